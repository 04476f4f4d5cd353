//! Stepping Python iterators, generators and async generators one item at a time.

use crate::shim::Helper;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyFrozenSet, PyList, PySet, PyString, PyTuple};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    Generator,
    Iterator,
    AsyncGenerator,
}

impl StreamType {
    pub fn as_str(&self) -> &'static str {
        match self {
            StreamType::Generator => "generator",
            StreamType::Iterator => "iterator",
            StreamType::AsyncGenerator => "async_generator",
        }
    }
}

/// Whether a result is a stream, and of which kind: generators, async generators and
/// iterators other than built-in collections and context managers (the detection rules of
/// StreamRef, see guides/streaming.md).
pub fn detect(obj: &Bound<'_, PyAny>) -> Option<StreamType> {
    let p = obj.as_ptr();
    // SAFETY: attached (the Bound proves it); the checks only read the object's type.
    unsafe {
        if ffi::PyGen_Check(p) != 0 {
            return Some(StreamType::Generator);
        }
        if ffi::PyAsyncGen_CheckExact(p) != 0 {
            return Some(StreamType::AsyncGenerator);
        }
    }
    let has = |name: &str| obj.hasattr(name).unwrap_or(false);
    if has("__next__") && has("__iter__") {
        // Built-in collections are values; context managers (files, connections) are Refs.
        if obj.is_instance_of::<PyString>()
            || obj.is_instance_of::<PyBytes>()
            || obj.is_instance_of::<PyByteArray>()
            || obj.is_instance_of::<PyList>()
            || obj.is_instance_of::<PyTuple>()
            || obj.is_instance_of::<PyDict>()
            || obj.is_instance_of::<PySet>()
            || obj.is_instance_of::<PyFrozenSet>()
        {
            return None;
        }
        if has("__enter__") && has("__exit__") {
            return None;
        }
        return Some(StreamType::Iterator);
    }
    None
}

/// One `next()` of any iterator (an async generator steps on `aloop`, made on first use).
pub fn next_raw<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    kind: StreamType,
    aloop: &mut Option<Py<PyAny>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if kind == StreamType::AsyncGenerator {
        let lp = match aloop {
            Some(l) => l.bind(py).clone(),
            None => {
                let l = Helper::NewLoop.call0(py)?;
                *aloop = Some(l.clone().unbind());
                l
            }
        };
        let (more, item): (bool, Bound<'py, PyAny>) =
            Helper::Anext.call1(py, (lp, obj))?.extract()?;
        return Ok(more.then_some(item));
    }
    // SAFETY: attached; `obj` is a live object whose type is read before its tp_iternext
    // is used (through PyIter_Next, which checks it); a NULL item is an end or an error,
    // told apart by PyErr_Occurred.
    unsafe {
        let p = obj.as_ptr();
        if (*ffi::Py_TYPE(p)).tp_iternext.is_none() {
            // `__next__` set on the instance only: call it the slow way.
            return match obj.call_method0("__next__") {
                Ok(v) => Ok(Some(v)),
                Err(e) if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) => Ok(None),
                Err(e) => Err(e),
            };
        }
        let item = ffi::PyIter_Next(p);
        if item.is_null() {
            if ffi::PyErr_Occurred().is_null() {
                Ok(None)
            } else {
                Err(PyErr::fetch(py))
            }
        } else {
            Ok(Some(Bound::from_owned_ptr(py, item)))
        }
    }
}

/// Whether a (async) generator has ended: its frame is gone.
pub fn ended_inside(obj: &Bound<'_, PyAny>, kind: StreamType) -> bool {
    let frame = match kind {
        StreamType::Generator => "gi_frame",
        StreamType::AsyncGenerator => "ag_frame",
        StreamType::Iterator => return false,
    };
    obj.getattr(frame).is_ok_and(|f| f.is_none())
}
