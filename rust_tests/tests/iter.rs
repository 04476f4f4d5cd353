//! Stepping each kind of stream with `iter::next_raw`, without the BEAM.

use std::ffi::CStr;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use snakebridge_core::interpreter;
use snakebridge_core::iter::{self, StreamType};

const MODULE: &CStr = cr#"
async def agen(n):
    for i in range(n):
        yield i * 10

def fails():
    yield 1
    raise KeyError("k")

def gen_then_done():
    yield 1
"#;

/// Python started, with the module rt_iter.
fn start() {
    rust_tests::start_with_module("rt_iter", MODULE);
}

/// A stream: the object, its kind, and the loop of an async generator once made.
struct Stream {
    obj: Py<PyAny>,
    kind: StreamType,
    aloop: Option<Py<PyAny>>,
}

/// A stream over the result of `code` (evaluated with rt_iter imported as `rt`).
fn make(code: &CStr) -> Stream {
    interpreter::attach(|py| {
        let g = PyDict::new(py);
        g.set_item("rt", py.import("rt_iter").unwrap()).unwrap();
        let obj = py.eval(code, Some(&g), None).unwrap();
        let kind = iter::detect(&obj).expect("a stream");
        Stream {
            obj: obj.unbind(),
            kind,
            aloop: None,
        }
    })
    .unwrap()
}

fn next_i64(s: &mut Stream) -> PyResult<Option<i64>> {
    interpreter::attach(|py| {
        iter::next_raw(py, s.obj.bind(py), s.kind, &mut s.aloop)
            .and_then(|o| o.map(|v| v.extract::<i64>()).transpose())
    })
    .unwrap()
}

#[test]
fn a_generator_steps_and_ends() {
    start();
    let mut s = make(c"(x * x for x in range(3))");
    assert_eq!(s.kind, StreamType::Generator);
    assert_eq!(next_i64(&mut s).unwrap(), Some(0));
    assert_eq!(next_i64(&mut s).unwrap(), Some(1));
    assert_eq!(next_i64(&mut s).unwrap(), Some(4));
    assert_eq!(next_i64(&mut s).unwrap(), None);
    // An ended stream stays ended.
    assert_eq!(next_i64(&mut s).unwrap(), None);
}

#[test]
fn an_iterator_steps_and_ends() {
    start();
    let mut s = make(c"iter([7, 8])");
    assert_eq!(s.kind, StreamType::Iterator);
    assert_eq!(next_i64(&mut s).unwrap(), Some(7));
    assert_eq!(next_i64(&mut s).unwrap(), Some(8));
    assert_eq!(next_i64(&mut s).unwrap(), None);
}

#[test]
fn an_iterator_with_next_set_on_the_instance() {
    start();
    let mut s = make(
        c"(lambda c: (setattr(c, '__iter__', lambda self: self), setattr(c, '__next__', lambda self: 5), c())[2])(type('Five', (), {}))",
    );
    assert_eq!(s.kind, StreamType::Iterator);
    assert_eq!(next_i64(&mut s).unwrap(), Some(5));
}

#[test]
fn an_async_generator_is_driven_by_its_own_loop() {
    start();
    let mut s = make(c"rt.agen(3)");
    assert_eq!(s.kind, StreamType::AsyncGenerator);
    assert!(s.aloop.is_none());
    assert_eq!(next_i64(&mut s).unwrap(), Some(0));
    assert!(s.aloop.is_some(), "the loop is made on first use");
    assert_eq!(next_i64(&mut s).unwrap(), Some(10));
    assert_eq!(next_i64(&mut s).unwrap(), Some(20));
    assert_eq!(next_i64(&mut s).unwrap(), None);
}

#[test]
fn a_python_error_comes_out_of_next() {
    start();
    let mut s = make(c"rt.fails()");
    assert_eq!(next_i64(&mut s).unwrap(), Some(1));
    let err = next_i64(&mut s).unwrap_err();
    let is_key_error =
        interpreter::attach(|py| err.is_instance_of::<pyo3::exceptions::PyKeyError>(py)).unwrap();
    assert!(is_key_error, "{err}");
}

#[test]
fn a_generator_that_ended_has_no_frame() {
    start();
    let mut s = make(c"rt.gen_then_done()");
    let alive =
        |s: &Stream| interpreter::attach(|py| !iter::ended_inside(s.obj.bind(py), s.kind)).unwrap();
    assert!(alive(&s));
    assert_eq!(next_i64(&mut s).unwrap(), Some(1));
    assert!(alive(&s));
    assert_eq!(next_i64(&mut s).unwrap(), None);
    assert!(!alive(&s));
}
