//! Finding modules, functions and attributes by name, with the names interned per thread.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyModule, PyString};

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

pub fn import<'py>(py: Python<'py>, module: &str) -> PyResult<Bound<'py, PyAny>> {
    let (pyname, imported) = cached_name(py, module);
    if imported {
        // sys.modules directly: one dict lookup (PyImport_GetModule also reads
        // __spec__._initializing, which costs more than the call itself). Only after a
        // real import on this thread, which waits while another thread is still running
        // the module's body: a partly initialized module is never used.
        // SAFETY: attached (`py`); sys.modules is a dict and `pyname` a live str. The
        // item is borrowed and turned into a new reference at once; a NULL result is an
        // error only when one is set, and then it is fetched.
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

/// `module.function` (a dotted function path is followed).
pub fn resolve<'py>(py: Python<'py>, module: &str, function: &str) -> PyResult<Bound<'py, PyAny>> {
    getattr_path(import(py, module)?, function)
}

/// `a.b.c` on `obj`.
pub fn getattr_path<'py>(obj: Bound<'py, PyAny>, path: &str) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.getattr(name(py, part))?;
    }
    Ok(cur)
}
