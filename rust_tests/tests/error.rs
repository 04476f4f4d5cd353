//! `Error` from a Python exception: type, message and traceback, described while
//! attached, so the error needs no Python later; the stop exception is a timeout.

use std::ffi::CStr;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use snakebridge_core::shim::Helper;
use snakebridge_core::{interpreter, Error};

const MODULE: &CStr = cr#"
class Custom(Exception):
    pass

class Outer:
    class Nested(Exception):
        pass

def inner():
    raise Custom("deep trouble")

def outer():
    inner()

def nested():
    raise Outer.Nested("in a class")

def chained():
    try:
        {}["k"]
    except KeyError as e:
        raise ValueError("bad value") from e

class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str for you")

def unprintable():
    raise Unprintable()
"#;

fn start() {
    rust_tests::start_with_module("rt_error", MODULE);
}

/// The error of running `code` (statements, with rt_error imported as `rt`).
fn error_of(code: &CStr) -> Error {
    interpreter::attach(|py| {
        let g = PyDict::new(py);
        g.set_item("rt", py.import("rt_error").unwrap()).unwrap();
        if let Some(t) = interpreter::interrupt_type(py) {
            g.set_item("Interrupt", t).unwrap();
        }
        let err = py.run(code, Some(&g), None).expect_err("the code raises");
        Error::from(err)
    })
    .expect("attached")
}

fn python(err: Error) -> (String, String, String) {
    match err {
        Error::Python {
            type_name,
            message,
            traceback,
        } => (type_name, message, traceback),
        other => panic!("not a Python error: {other:?}"),
    }
}

#[test]
fn an_exception_is_described_with_type_message_and_traceback() {
    start();
    let err = error_of(c"rt.outer()");
    assert_eq!(err.to_string(), "rt_error.Custom: deep trouble");
    let (t, m, tb) = python(err);
    assert_eq!(t, "rt_error.Custom");
    assert_eq!(m, "deep trouble");
    assert!(tb.starts_with("Traceback (most recent call last):"), "{tb}");
    let (o, i) = (tb.find("in outer").unwrap(), tb.find("in inner").unwrap());
    assert!(o < i, "outermost frame first: {tb}");
    assert!(
        tb.trim_end().ends_with("rt_error.Custom: deep trouble"),
        "{tb}"
    );
}

#[test]
fn type_names() {
    start();
    // Builtins without their module; others with module and qualified name.
    let (t, m, _) = python(error_of(c"int('x')"));
    assert_eq!(t, "ValueError");
    assert_eq!(m, "invalid literal for int() with base 10: 'x'");
    let (t, _, _) = python(error_of(c"{}['k']"));
    assert_eq!(t, "KeyError");
    let (t, m, _) = python(error_of(c"rt.nested()"));
    assert_eq!(
        (t.as_str(), m.as_str()),
        ("rt_error.Outer.Nested", "in a class")
    );
    let (t, _, _) = python(error_of(c"import json\njson.loads('{')"));
    assert_eq!(t, "json.decoder.JSONDecodeError");
}

#[test]
fn a_chained_exception_keeps_its_cause_in_the_traceback() {
    start();
    let (t, m, tb) = python(error_of(c"rt.chained()"));
    assert_eq!((t.as_str(), m.as_str()), ("ValueError", "bad value"));
    assert!(tb.contains("KeyError: 'k'"), "{tb}");
    assert!(tb.contains("direct cause"), "{tb}");
}

#[test]
fn the_shims_frames_are_not_in_the_traceback() {
    start();
    // setattr_path raises from inside the shim: the traceback has only the error.
    let err = interpreter::attach(|py| {
        let obj = py.import("rt_error").unwrap();
        Error::from(
            Helper::SetattrPath
                .call1(py, (obj, "missing.attr", 1))
                .unwrap_err(),
        )
    })
    .unwrap();
    let (t, _, tb) = python(err);
    assert_eq!(t, "AttributeError");
    assert!(!tb.contains("snakebridge_shim"), "{tb}");
    assert!(tb.contains("missing"), "{tb}");
}

#[test]
fn an_exception_that_cannot_be_shown_is_still_described() {
    start();
    // str() of it raises: the type's name, some text, and no traceback. (Python prints
    // "Exception ignored in: Unprintable()" on stderr as the fallback shows the object.)
    let (t, m, tb) = python(error_of(c"rt.unprintable()"));
    assert_eq!(t, "Unprintable");
    assert!(!m.is_empty());
    assert_eq!(tb, "");
}

#[test]
fn the_stop_exception_is_a_timeout() {
    start();
    assert!(matches!(error_of(c"raise Interrupt()"), Error::Timeout));
    assert!(matches!(
        error_of(c"class Sub(Interrupt):\n    pass\nraise Sub()"),
        Error::Timeout
    ));
    // Caught by no `except Exception`.
    assert!(matches!(
        error_of(c"try:\n    raise Interrupt()\nexcept Exception:\n    pass"),
        Error::Timeout
    ));
    let err = interpreter::attach(|py| {
        let t = interpreter::interrupt_type(py).unwrap();
        Error::from(PyErr::from_value(t.call0().unwrap()))
    })
    .unwrap();
    assert!(matches!(err, Error::Timeout));
    assert_eq!(err.to_string(), "timeout");
}

#[test]
fn a_described_error_needs_no_python() {
    start();
    // The PyErr leaves the attached closure, and is described on a thread that never
    // attached by itself (the conversion attaches).
    let py_err =
        interpreter::attach(|py| py.run(c"rt_missing_name", None, None).unwrap_err()).unwrap();
    let err = std::thread::spawn(move || Error::from(py_err))
        .join()
        .unwrap();
    // Shown on another thread still, with no Python involved.
    let shown = std::thread::spawn(move || (err.to_string(), python(err)))
        .join()
        .unwrap();
    assert_eq!(shown.0, "NameError: name 'rt_missing_name' is not defined");
    assert_eq!(shown.1 .0, "NameError");
    assert!(shown.1 .2.contains("NameError"), "{}", shown.1 .2);
}

#[test]
fn the_other_errors_read_as_the_nif_reports_them() {
    start();
    for (err, text) in [
        (Error::NotStarted, "the Python runtime is not started"),
        (Error::Timeout, "timeout"),
        (Error::Cancelled, "cancelled"),
        (Error::StopIteration, "stop_iteration"),
        (Error::UnknownStream, "unknown stream"),
        (Error::Init("x".into()), "Python failed to start: x"),
        (Error::BadArg("y".into()), "bad argument: y"),
        (Error::NoLen, "object has no len()"),
        (Error::Internal("z".into()), "internal error: z"),
        (Error::Released, "released with its session"),
        (
            Error::Stopped,
            "the generator was stopped by a timeout or cancel",
        ),
    ] {
        assert_eq!(err.to_string(), text);
    }
}
