//! The `snakebridge` module Python code can import: how Python reaches the BEAM.

use pyo3::prelude::*;
use pyo3::types::PyModule;
use snakebridge_core::shim::Helper;

use crate::{elixir_calls, output};

/// Makes the module (`sys.modules["snakebridge"]`) and routes Python's output through it.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let m = PyModule::new(py, "snakebridge")?;
    m.add_function(wrap_pyfunction!(output::write, &m)?)?;
    m.add_function(wrap_pyfunction!(output::flush, &m)?)?;
    m.add_function(wrap_pyfunction!(output::log, &m)?)?;
    m.add_function(wrap_pyfunction!(elixir_calls::send_fn, &m)?)?;
    m.add_class::<elixir_calls::PyPid>()?;
    m.add_class::<elixir_calls::PyFun>()?;
    m.add("ElixirError", py.get_type::<elixir_calls::ElixirError>())?;
    crate::iter_in::install(&m)?;
    m.setattr("_configure_logging", Helper::ConfigureLogging.get(py)?)?;
    m.setattr(
        "__doc__",
        "SnakeBridge: Python embedded in the BEAM. send(pid, value) sends a message.",
    )?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("snakebridge", &m)?;
    output::install(py, &m)
}
