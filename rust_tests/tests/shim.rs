//! The table of the shim's functions: every `Helper` is in `shim.py` under its name, the
//! names are unique, and the helpers called through the table work.

use std::collections::HashSet;
use std::ffi::CStr;

use pyo3::exceptions::{PyBaseException, PyException};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use snakebridge_core::interpreter;
use snakebridge_core::shim::Helper;

const MODULE: &CStr = cr#"
import types

state = {"closed": 0}

def gen():
    try:
        yield 1
        yield 2
    finally:
        state["closed"] += 1

ns = types.SimpleNamespace(a=types.SimpleNamespace(b=0))

def fails():
    raise LookupError("not here")
"#;

fn start() {
    rust_tests::start_with_module("rt_shim", MODULE);
}

fn rt(py: Python<'_>) -> Bound<'_, PyAny> {
    py.import("rt_shim").unwrap().into_any()
}

#[test]
fn every_helper_is_in_the_shim_under_its_name() {
    start();
    interpreter::attach(|py| {
        for h in Helper::ALL {
            let f = h
                .get(py)
                .unwrap_or_else(|e| panic!("{h:?} ({}) is not in the shim: {e}", h.name()));
            assert!(f.is_callable(), "{h:?}");
            // The object itself, not an alias of another name.
            let name: String = f.getattr("__name__").unwrap().extract().unwrap();
            assert_eq!(name, h.name(), "{h:?}");
        }
    })
    .unwrap();
}

#[test]
fn helper_names_are_unique() {
    start();
    let names: HashSet<&str> = Helper::ALL.iter().map(|h| h.name()).collect();
    assert_eq!(names.len(), Helper::ALL.len());
    // ALL lists each helper once.
    for (i, a) in Helper::ALL.iter().enumerate() {
        for b in &Helper::ALL[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn the_exception_types() {
    start();
    interpreter::attach(|py| {
        let interrupt = Helper::SnakeBridgeInterrupt.get(py).unwrap();
        let interrupt = interrupt.cast::<PyType>().unwrap();
        assert!(interrupt.is_subclass_of::<PyBaseException>().unwrap());
        assert!(!interrupt.is_subclass_of::<PyException>().unwrap());
        assert!(interrupt.is(interpreter::interrupt_type(py).unwrap()));

        let await_timeout = Helper::AwaitTimeout.get(py).unwrap();
        let await_timeout = await_timeout.cast::<PyType>().unwrap();
        assert!(await_timeout.is_subclass_of::<PyException>().unwrap());
    })
    .unwrap();
}

#[test]
fn helpers_called_through_the_table() {
    start();
    interpreter::attach(|py| {
        // as_chunks: an iterator over a collection, None for a single value.
        let chunks = Helper::AsChunks.call1(py, (vec![1, 2, 3],)).unwrap();
        let items: Vec<i64> = chunks
            .try_iter()
            .unwrap()
            .map(|x| x.unwrap().extract().unwrap())
            .collect();
        assert_eq!(items, [1, 2, 3]);
        for single in [
            "abc".into_pyobject(py).unwrap().into_any(),
            5i64.into_pyobject(py).unwrap().into_any(),
            PyDict::new(py).into_any(),
        ] {
            assert!(Helper::AsChunks.call1(py, (single,)).unwrap().is_none());
        }

        // setattr_path: obj.a.b = value.
        let ns = rt(py).getattr("ns").unwrap();
        Helper::SetattrPath.call1(py, (&ns, "a.b", 9)).unwrap();
        let b: i64 = ns
            .getattr("a")
            .unwrap()
            .getattr("b")
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(b, 9);

        // close: a started generator runs its finally.
        let g = rt(py).getattr("gen").unwrap().call0().unwrap();
        g.call_method0("__next__").unwrap();
        Helper::Close.call1(py, (&g,)).unwrap();
        let closed: i64 = rt(py)
            .getattr("state")
            .unwrap()
            .get_item("closed")
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(closed, 1);

        // describe_exception: (type, message, traceback), given the traceback as
        // error.rs gives it (on 3.11 a fetched exception's __traceback__ may be unset).
        let err = rt(py).getattr("fails").unwrap().call0().unwrap_err();
        let (t, m, tb): (String, String, String) = Helper::DescribeException
            .call1(py, (err.value(py), err.traceback(py)))
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!((t.as_str(), m.as_str()), ("LookupError", "not here"));
        assert!(tb.contains("in fails"), "{tb}");

        // new_loop: an asyncio loop of its own.
        let lp = Helper::NewLoop.call0(py).unwrap();
        assert!(!lp
            .call_method0("is_closed")
            .unwrap()
            .extract::<bool>()
            .unwrap());
        lp.call_method0("close").unwrap();

        // drain: runs, raises nothing.
        assert!(Helper::Drain.call0(py).unwrap().is_none());
    })
    .unwrap();
}
