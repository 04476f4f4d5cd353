//! The one error type; a Python exception is described (type, message, traceback) while
//! still attached, so the description needs no Python later.
//!
//! The `#[error]` texts are what Python code reads when an error becomes a Python
//! exception (a released stream iterated from Python, an Elixir function's result Python
//! cannot take). Elixir gets reason terms (`snakebridge_nif`'s `error.rs`) and words
//! them itself, in `SnakeBridge.Error`.

use crate::shim::Helper;
use pyo3::prelude::*;

use crate::interpreter;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Python runtime is not started")]
    NotStarted,
    #[error("{type_name}: {message}")]
    Python {
        type_name: String,
        message: String,
        traceback: String,
    },
    #[error("timeout")]
    Timeout,
    #[error("cancelled")]
    Cancelled,
    #[error("stop_iteration")]
    StopIteration,
    #[error("unknown stream")]
    UnknownStream,
    #[error("Python failed to start: {0}")]
    Init(String),
    #[error("bad argument: {0}")]
    BadArg(String),
    #[error("object has no len()")]
    NoLen,
    #[error("internal error: {0}")]
    Internal(String),
    #[error("released with its session")]
    Released,
    #[error("the generator was stopped by a timeout or cancel")]
    Stopped,
}

/// Describes the exception now, so the error needs no Python later (it may be encoded
/// on a thread that is not attached, after the exception's objects are gone).
///
/// This attaches, and runs the shim's `describe_exception` (traceback formatting): the
/// `?` that converts is always inside a task that is attached already, where attaching
/// again only bumps a counter; it never waits for the GIL there. A `PyErr` is never made
/// outside such a task.
impl From<PyErr> for Error {
    fn from(err: PyErr) -> Self {
        Python::attach(|py| describe(py, err))
    }
}

fn describe(py: Python<'_>, err: PyErr) -> Error {
    if interpreter::is_interrupt(py, &err) {
        return Error::Timeout;
    }
    let described = Helper::DescribeException
        .call1(py, (err.value(py), err.traceback(py)))
        .and_then(|t| t.extract::<(String, String, String)>());
    match described {
        Ok((type_name, message, traceback)) => Error::Python {
            type_name,
            message,
            traceback,
        },
        Err(_) => Error::Python {
            type_name: err
                .get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".into()),
            message: err.value(py).to_string(),
            traceback: String::new(),
        },
    }
}
