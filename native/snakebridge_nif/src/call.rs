//! Calling Python: finding modules, functions, methods and attributes.

use pyo3::prelude::*;
use rustler::{Encoder, Env, Term};

use crate::atoms::ok;
use crate::error::Error;
use crate::objects::Obj;
use snakebridge_core::names;

pub fn ok_tuple<'a>(env: Env<'a>, value: Term<'a>) -> Term<'a> {
    (ok(), value).encode(env)
}

pub fn reply<'a>(env: Env<'a>, result: Result<Term<'a>, Error>) -> Term<'a> {
    match result {
        Ok(v) => ok_tuple(env, v),
        Err(e) => crate::error::error_tuple(env, &e),
    }
}

/// The object a call is made on: a module named by a binary, or a Ref's object.
pub fn target<'py>(py: Python<'py>, target: Term<'_>) -> Result<Bound<'py, PyAny>, Error> {
    if let Ok(Obj(res)) = target.decode() {
        return res.inner.obj(py);
    }
    let module: &str = target
        .decode()
        .map_err(|_| Error::BadArg("module name must be a string".into()))?;
    Ok(names::import(py, module)?)
}

pub use snakebridge_core::names::{getattr_path, resolve};
