//! The detection rules of StreamRef (guides/streaming.md), as `iter::detect` applies them.

use std::ffi::CStr;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use snakebridge_core::interpreter;
use snakebridge_core::iter::{detect, StreamType};

const SETUP: &CStr = cr#"
import io, itertools, tempfile, os

def gen():
    yield 1

async def agen():
    yield 1

class Iter:
    def __iter__(self): return self
    def __next__(self): raise StopIteration

class IterCtx(Iter):
    def __enter__(self): return self
    def __exit__(self, *a): return False

class OnlyNext:
    def __next__(self): raise StopIteration

class OnlyIter:
    def __iter__(self): return iter([])

class ListIter(list):
    def __next__(self): raise StopIteration

class StrIter(str):
    def __iter__(self): return self
    def __next__(self): raise StopIteration

_fd, tmp_path = tempfile.mkstemp()
os.close(_fd)
"#;

fn with_globals<R>(f: impl for<'py> FnOnce(Python<'py>, &Bound<'py, PyDict>) -> R) -> R {
    rust_tests::start();
    interpreter::attach(|py| {
        let globals = PyDict::new(py);
        py.run(SETUP, Some(&globals), None).expect("setup script");
        f(py, &globals)
    })
    .expect("attached")
}

fn eval_detect(py: Python<'_>, globals: &Bound<'_, PyDict>, code: &CStr) -> Option<StreamType> {
    let obj = py
        .eval(code, Some(globals), None)
        .unwrap_or_else(|e| panic!("eval {code:?}: {e}"));
    detect(&obj)
}

#[test]
fn generators() {
    with_globals(|py, g| {
        assert_eq!(
            eval_detect(py, g, c"(x for x in range(10))"),
            Some(StreamType::Generator)
        );
        assert_eq!(eval_detect(py, g, c"gen()"), Some(StreamType::Generator));
    });
}

#[test]
fn async_generators() {
    with_globals(|py, g| {
        let obj = py.eval(c"agen()", Some(g), None).unwrap();
        assert_eq!(detect(&obj), Some(StreamType::AsyncGenerator));
        // close it so no "never awaited" warning is printed
        obj.call_method0("aclose")
            .unwrap()
            .call_method0("close")
            .unwrap();
    });
}

#[test]
fn iterators() {
    with_globals(|py, g| {
        for code in [
            c"iter([1, 2, 3])",
            c"iter((1, 2))",
            c"iter({'a': 1})",
            c"iter({1, 2})",
            c"iter('abc')",
            c"iter(b'abc')",
            c"iter(range(3))",
            c"map(str, [1])",
            c"filter(None, [1])",
            c"zip([1], [2])",
            c"enumerate([1])",
            c"reversed([1, 2])",
            c"itertools.count()",
            c"itertools.chain([1], [2])",
            c"itertools.islice([1, 2], 1)",
            c"itertools.cycle([1])",
            c"itertools.repeat(1, 2)",
            c"{'a': 1}.items().__iter__()",
            c"Iter()",
        ] {
            assert_eq!(
                eval_detect(py, g, code),
                Some(StreamType::Iterator),
                "{code:?}"
            );
        }
    });
}

#[test]
fn collections_and_scalars_are_values() {
    with_globals(|py, g| {
        for code in [
            c"[1, 2]",
            c"(1, 2)",
            c"{'a': 1}",
            c"{1, 2}",
            c"frozenset([1])",
            c"'abc'",
            c"b'abc'",
            c"bytearray(b'abc')",
            c"1",
            c"1.5",
            c"None",
            c"True",
            // iterable but not iterators: re-iterable objects are Refs, not streams
            c"range(10)",
            c"{'a': 1}.keys()",
            c"OnlyIter()",
            c"OnlyNext()",
            // subclasses of the built-in collections that add __next__ stay values
            c"ListIter([1])",
            c"StrIter('x')",
        ] {
            assert_eq!(eval_detect(py, g, code), None, "{code:?}");
        }
    });
}

#[test]
fn context_managers_are_not_streams() {
    with_globals(|py, g| {
        assert_eq!(eval_detect(py, g, c"io.StringIO('a\\nb')"), None);
        assert_eq!(eval_detect(py, g, c"io.BytesIO(b'a')"), None);
        assert_eq!(eval_detect(py, g, c"IterCtx()"), None);

        let f = py.eval(c"open(tmp_path)", Some(g), None).unwrap();
        assert!(f.hasattr("__next__").unwrap());
        assert_eq!(detect(&f), None);
        f.call_method0("close").unwrap();
        let fb = py.eval(c"open(tmp_path, 'rb')", Some(g), None).unwrap();
        assert_eq!(detect(&fb), None);
        fb.call_method0("close").unwrap();
        py.run(c"os.unlink(tmp_path)", Some(g), None).unwrap();
    });
}

#[test]
fn stream_type_names_are_the_seeds() {
    assert_eq!(StreamType::Generator.as_str(), "generator");
    assert_eq!(StreamType::Iterator.as_str(), "iterator");
    assert_eq!(StreamType::AsyncGenerator.as_str(), "async_generator");
}
