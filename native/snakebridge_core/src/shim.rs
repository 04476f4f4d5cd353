//! The functions of `shim.py` the Rust side calls, in one table: a name is written once
//! here, and `Helper::get` is the only way to reach one.

use pyo3::prelude::*;

use crate::interpreter;

/// A function (or class) of the shim module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helper {
    AddPaths,
    Enter,
    SafeMultiprocessing,
    DescribeException,
    NewLoop,
    Anext,
    Aclose,
    Close,
    Importing,
    AsChunks,
    Drain,
    InstallOutput,
    ConfigureLogging,
    SetattrPath,
    EvalCode,
    ReloadModule,
    RunAtexit,
    EndChildren,
    SubmitAwaitable,
    AwaitTimeout,
    SnakeBridgeInterrupt,
}

impl Helper {
    /// Its name in `shim.py`.
    pub const fn name(self) -> &'static str {
        match self {
            Helper::AddPaths => "add_paths",
            Helper::Enter => "enter",
            Helper::SafeMultiprocessing => "safe_multiprocessing",
            Helper::DescribeException => "describe_exception",
            Helper::NewLoop => "new_loop",
            Helper::Anext => "anext",
            Helper::Aclose => "aclose",
            Helper::Close => "close",
            Helper::Importing => "importing",
            Helper::AsChunks => "as_chunks",
            Helper::Drain => "drain",
            Helper::InstallOutput => "install_output",
            Helper::ConfigureLogging => "configure_logging",
            Helper::SetattrPath => "setattr_path",
            Helper::EvalCode => "eval_code",
            Helper::ReloadModule => "reload_module",
            Helper::RunAtexit => "run_atexit",
            Helper::EndChildren => "end_children",
            Helper::SubmitAwaitable => "submit_awaitable",
            Helper::AwaitTimeout => "AwaitTimeout",
            Helper::SnakeBridgeInterrupt => "SnakeBridgeInterrupt",
        }
    }

    /// Every helper (tests check that the shim defines each).
    pub const ALL: [Helper; 21] = [
        Helper::AddPaths,
        Helper::Enter,
        Helper::SafeMultiprocessing,
        Helper::DescribeException,
        Helper::NewLoop,
        Helper::Anext,
        Helper::Aclose,
        Helper::Close,
        Helper::Importing,
        Helper::AsChunks,
        Helper::Drain,
        Helper::InstallOutput,
        Helper::ConfigureLogging,
        Helper::SetattrPath,
        Helper::EvalCode,
        Helper::ReloadModule,
        Helper::RunAtexit,
        Helper::EndChildren,
        Helper::SubmitAwaitable,
        Helper::AwaitTimeout,
        Helper::SnakeBridgeInterrupt,
    ];

    /// The function (attached).
    pub fn get(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        interpreter::shim(py)?.getattr(self.name())
    }

    /// `helper(*args)`.
    pub fn call1<'py>(
        self,
        py: Python<'py>,
        args: impl pyo3::call::PyCallArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get(py)?.call1(args)
    }

    /// `helper()`.
    pub fn call0(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        self.get(py)?.call0()
    }
}
