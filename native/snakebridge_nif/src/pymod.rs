//! The `snakebridge` module Python code can import: how Python reaches the BEAM.

use pyo3::prelude::*;
use pyo3::types::PyModule;
use snakebridge_core::shim::Helper;

use crate::{callback, output};

/// Makes the module (`sys.modules["snakebridge"]`) and routes Python's output through it.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let m = PyModule::new(py, "snakebridge")?;
    m.add_function(wrap_pyfunction!(output::write, &m)?)?;
    m.add_function(wrap_pyfunction!(output::flush, &m)?)?;
    m.add_function(wrap_pyfunction!(output::log, &m)?)?;
    m.add_function(wrap_pyfunction!(callback::send_fn, &m)?)?;
    m.add_class::<callback::PyPid>()?;
    m.add_class::<callback::PyFun>()?;
    m.add("ElixirError", py.get_type::<callback::ElixirError>())?;
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
