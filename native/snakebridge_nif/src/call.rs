//! Calling Python: functions of modules, methods and attributes of objects.

use std::time::Duration;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyModule, PyString};
use rustler::{Binary, Encoder, Env, ResourceArc, Term};

use crate::convert::{self, ToTerm};
use crate::error::Error;
use crate::objects::{self, PyObj};
use crate::{interrupt, runtime};

rustler::atoms! { ok, error }

pub fn ok_tuple<'a>(env: Env<'a>, value: Term<'a>) -> Term<'a> {
    (ok(), value).encode(env)
}

pub fn reply<'a>(env: Env<'a>, result: Result<Term<'a>, Error>) -> Term<'a> {
    match result {
        Ok(v) => ok_tuple(env, v),
        Err(e) => (error(), e).encode(env),
    }
}

pub fn timeout_of(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

/// Builtins that read the caller's frame; called straight from C they fail with
/// "frame does not exist", so they go through a Python function.
const FRAME_BUILTINS: [&str; 6] = ["eval", "exec", "globals", "locals", "vars", "dir"];

thread_local! {
    /// Interned names of recently called modules and functions: no new str, no hashing,
    /// and pointer-equal dict keys on the hot path. The flag: this thread has imported
    /// the module of that name through the import system once.
    static NAMES: std::cell::RefCell<Vec<CachedName>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

struct CachedName {
    text: Box<str>,
    name: Py<PyString>,
    imported: bool,
}

const NAME_CACHE: usize = 32;

/// The interned name, and whether this thread has imported a module by that name.
fn cached_name<'py>(py: Python<'py>, text: &str) -> (Bound<'py, PyString>, bool) {
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(c) = names.iter().find(|c| &*c.text == text) {
            return (c.name.bind(py).clone(), c.imported);
        }
        let s = PyString::intern(py, text);
        if names.len() >= NAME_CACHE {
            names.remove(0);
        }
        names.push(CachedName {
            text: text.into(),
            name: s.clone().unbind(),
            imported: false,
        });
        (s, false)
    })
}

fn name<'py>(py: Python<'py>, text: &str) -> Bound<'py, PyString> {
    cached_name(py, text).0
}

fn mark_imported(text: &str) {
    NAMES.with(|names| {
        if let Some(c) = names.borrow_mut().iter_mut().find(|c| &*c.text == text) {
            c.imported = true;
        }
    });
}

fn import<'py>(py: Python<'py>, module: &str) -> PyResult<Bound<'py, PyAny>> {
    let (pyname, imported) = cached_name(py, module);
    if imported {
        // sys.modules directly: one dict lookup (PyImport_GetModule also reads
        // __spec__._initializing, which costs more than the call itself). Only after a
        // real import on this thread, which waits while another thread is still running
        // the module's body: a partly initialized module is never used.
        unsafe {
            let found =
                ffi::PyDict_GetItemWithError(ffi::PyImport_GetModuleDict(), pyname.as_ptr());
            if !found.is_null() && found != ffi::Py_None() {
                return Ok(Bound::from_borrowed_ptr(py, found));
            }
            if !ffi::PyErr_Occurred().is_null() {
                return Err(PyErr::fetch(py));
            }
        }
    }
    let module_obj = PyModule::import(py, pyname)?.into_any();
    mark_imported(module);
    Ok(module_obj)
}

/// The object a call is made on: a module named by a binary, or a Ref's object.
fn target<'py>(py: Python<'py>, target: Term<'_>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(res) = target.decode::<ResourceArc<PyObj>>() {
        return Ok(res.inner.obj().bind(py).clone());
    }
    let module: &str = target
        .decode()
        .map_err(|_| pyo3::exceptions::PyTypeError::new_err("module name must be a string"))?;
    import(py, module)
}

/// `module.function` (a dotted function path is followed).
pub fn resolve<'py>(py: Python<'py>, module: &str, function: &str) -> PyResult<Bound<'py, PyAny>> {
    getattr_path(import(py, module)?, function)
}

/// `a.b.c` on `obj`.
fn getattr_path<'py>(obj: Bound<'py, PyAny>, path: &str) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.getattr(name(py, part))?;
    }
    Ok(cur)
}

#[rustler::nif(schedule = "DirtyIo")]
fn call<'a>(
    env: Env<'a>,
    on: Term<'a>,
    name: Binary<'a>,
    argv: Term<'a>,
    kwargs: Term<'a>,
    ctx: Term<'a>,
    timeout_ms: Option<u64>,
) -> Term<'a> {
    let deadline = timeout_ms
        .and_then(|ms| std::time::Instant::now().checked_add(std::time::Duration::from_millis(ms)));
    let result = runtime::attach(|py| -> Result<Term<'a>, Error> {
        let name = std::str::from_utf8(name.as_slice())
            .map_err(|_| Error::BadArg("function name must be UTF-8".into()))?;
        // Convert everything before calling, so a bad term never reaches Python.
        // A stream argument that another process is iterating is waited for only until
        // the call's deadline.
        let give_up: Option<convert::GiveUp> =
            deadline.map(|at| Box::new(move || std::time::Instant::now() >= at) as convert::GiveUp);
        let (pargs, pkwargs) = match convert::call_args_to_py(py, argv, kwargs, give_up) {
            Ok(converted) => converted,
            Err(e) => return e.into_result(env).map(|r| (error(), r).encode(env)),
        };
        let is_builtins = on.decode::<&str>().is_ok_and(|m| m == "builtins");
        let to_term = ToTerm::lazy(env, ctx);
        interrupt::run(py, timeout_of(timeout_ms), |py| {
            let func = getattr_path(target(py, on)?, name)?;
            let value = if is_builtins && FRAME_BUILTINS.contains(&name) {
                runtime::shim(py)?.call_method1("call_in_frame", (func, pargs, pkwargs))?
            } else {
                func.call(pargs, pkwargs.as_ref())?
            };
            Ok(ok_tuple(env, to_term.term(&value)?))
        })
    });
    match result.and_then(|r| r) {
        Ok(t) => t,
        Err(e) => (error(), e).encode(env),
    }
}

#[rustler::nif(schedule = "DirtyIo")]
fn getattr<'a>(env: Env<'a>, on: Term<'a>, name: String, ctx: Term<'a>) -> Term<'a> {
    let result = runtime::attach(|py| -> Result<Term<'a>, Error> {
        let value = getattr_path(target(py, on)?, &name)?;
        Ok(ToTerm::lazy(env, ctx).term(&value)?)
    });
    reply(env, result.and_then(|r| r))
}

#[rustler::nif(schedule = "DirtyIo")]
fn repr(env: Env<'_>, res: ResourceArc<PyObj>) -> Term<'_> {
    let result = runtime::attach(|py| -> Result<String, Error> {
        Ok(res.inner.obj().bind(py).repr()?.to_string())
    });
    reply(env, result.and_then(|r| r).map(|s| s.encode(env)))
}

#[rustler::nif(schedule = "DirtyIo")]
fn len(env: Env<'_>, res: ResourceArc<PyObj>) -> Term<'_> {
    // A stream's items pulled ahead count too (its lock comes before the GIL).
    let buf = res.inner.stream.as_ref().map(|s| s.lock());
    let buffered = buf.as_ref().map_or(0, |b| b.buffered());
    let result = runtime::attach(|py| -> Result<usize, Error> {
        let obj = res.inner.obj().bind(py);
        if !obj.hasattr("__len__")? {
            return Err(Error::NoLen);
        }
        Ok(obj.len()? + buffered)
    });
    drop(buf);
    reply(env, result.and_then(|r| r).map(|n| n.encode(env)))
}

/// A fresh iterator over a Ref's object (each enumeration of a Ref starts afresh).
#[rustler::nif(schedule = "DirtyIo")]
fn iter<'a>(env: Env<'a>, res: ResourceArc<PyObj>) -> Term<'a> {
    let result = runtime::attach(|py| -> Result<Term<'a>, Error> {
        let it = res.inner.obj().bind(py).try_iter()?.into_any();
        let kind = crate::stream::detect(&it).unwrap_or(crate::stream::StreamType::Iterator);
        let state = crate::stream::StreamState::new(&it, kind)?;
        let inner = objects::new_object(it.unbind(), res.inner.ctx.clone(), Some(state));
        Ok(objects::stream_struct(env, inner))
    });
    reply(env, result.and_then(|r| r))
}
