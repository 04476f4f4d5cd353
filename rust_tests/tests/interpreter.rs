//! The one interpreter: `init` (once, then again to add paths), `attach` (a thread state
//! kept per thread), the shim and its interrupt type, and `in_frame`.

use std::ffi::CStr;
use std::sync::mpsc::channel;

use pyo3::exceptions::{PyBaseException, PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use snakebridge_core::{interpreter, Error};

const MODULE: &CStr = cr#"
import sys, threading

local = threading.local()

def caller():
    """The file and function of the caller's frame (raises when there is none)."""
    f = sys._getframe(1)
    return f.f_code.co_filename, f.f_code.co_name
"#;

fn start() {
    rust_tests::start_with_module("rt_runtime", MODULE);
}

fn eval<T: for<'a, 'py> pyo3::FromPyObject<'a, 'py, Error = PyErr>>(code: &CStr) -> T {
    interpreter::attach(|py| {
        let g = PyDict::new(py);
        g.set_item("rt", py.import("rt_runtime").unwrap()).unwrap();
        py.eval(code, Some(&g), None)
            .unwrap_or_else(|e| panic!("{code:?}: {e}"))
            .extract()
            .unwrap()
    })
    .expect("attached")
}

#[test]
fn before_init_nothing_attaches() {
    if !rust_tests::in_own_process("before_init_nothing_attaches") {
        return;
    }
    // This process runs this test alone: Python is not started yet.
    assert!(!interpreter::is_ready());
    assert!(matches!(
        interpreter::attach(|_py| ()),
        Err(Error::NotStarted)
    ));
    start();
    assert!(interpreter::is_ready());
    assert_eq!(eval::<i64>(c"1 + 2"), 3);
}

#[test]
fn init_again_keeps_the_interpreter_and_adds_paths() {
    start();
    let dir = rust_tests::temp_dir("runtime-paths");
    std::fs::write(dir.join("rt_runtime_path_mod.py"), "VALUE = 42\n").unwrap();
    let dir_s = dir.to_str().unwrap().to_string();
    let executable: String = eval(c"__import__('sys').executable");

    // A second start (and a third, at once, from other threads) is no error; an
    // executable given then is ignored: the running interpreter stays.
    interpreter::init(Some("/nonexistent/python3".into()), vec![dir_s.clone()]).unwrap();
    let others: Vec<_> = (0..3)
        .map(|_| {
            let d = dir_s.clone();
            std::thread::spawn(move || interpreter::init(None, vec![d]))
        })
        .collect();
    for t in others {
        t.join().unwrap().unwrap();
    }
    assert!(interpreter::is_ready());
    assert_eq!(eval::<String>(c"__import__('sys').executable"), executable);

    // The path is first on sys.path, once, and its modules import.
    let path: Vec<String> = eval(c"__import__('sys').path");
    assert_eq!(path[0], dir_s);
    assert_eq!(path.iter().filter(|p| **p == dir_s).count(), 1);
    assert_eq!(eval::<i64>(c"__import__('rt_runtime_path_mod').VALUE"), 42);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn python_is_set_up_as_the_nif_needs_it() {
    start();
    assert!(!interpreter::BUILD_PYTHON.is_empty());
    // Python's main thread is the runtime's own, parked for good: alive, and not this one.
    assert!(eval::<bool>(
        c"__import__('threading').main_thread().is_alive()"
    ));
    assert!(eval::<bool>(
        c"__import__('threading').current_thread() is not __import__('threading').main_thread()"
    ));
    // multiprocessing starts children with "spawn" (a fork would copy the host).
    assert_eq!(
        eval::<String>(c"__import__('multiprocessing').get_start_method()"),
        "spawn"
    );
    // SIGCHLD has its default action, so subprocess can wait for its children.
    // SAFETY: a query only (no new action); `old` is written by sigaction.
    let old = unsafe {
        let mut old = std::mem::zeroed::<libc::sigaction>();
        assert_eq!(
            libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old),
            0
        );
        old
    };
    assert_eq!(old.sa_sigaction, libc::SIG_DFL);
    assert_eq!(
        eval::<i64>(c"__import__('subprocess').run(['sh', '-c', 'exit 3']).returncode"),
        3
    );
}

#[test]
fn attach_returns_the_value_and_nests() {
    start();
    let v = interpreter::attach(|py| {
        let outer: i64 = py.eval(c"20 + 1", None, None).unwrap().extract().unwrap();
        let inner = interpreter::attach(|py| {
            let v: i64 = py.eval(c"2", None, None).unwrap().extract().unwrap();
            v
        })
        .unwrap();
        outer * inner
    })
    .unwrap();
    assert_eq!(v, 42);

    // Many threads at once, each attaching many times.
    let threads: Vec<_> = (0..4i64)
        .map(|t| {
            std::thread::spawn(move || {
                (0..200i64)
                    .map(|i| {
                        interpreter::attach(|py| {
                            let g = PyDict::new(py);
                            g.set_item("i", i).unwrap();
                            g.set_item("t", t).unwrap();
                            let v: i64 = py
                                .eval(c"t * 1000 + i", Some(&g), None)
                                .unwrap()
                                .extract()
                                .unwrap();
                            v
                        })
                        .unwrap()
                    })
                    .sum::<i64>()
            })
        })
        .collect();
    for (t, h) in threads.into_iter().enumerate() {
        let t = t as i64;
        assert_eq!(h.join().unwrap(), t * 1000 * 200 + (0..200).sum::<i64>());
    }
}

#[test]
fn a_thread_keeps_its_python_thread_state_until_it_forgets_it() {
    start();
    // threading.local lives in the thread state: it shows whether the state was kept.
    std::thread::spawn(|| {
        let ident: i64 = eval(c"__import__('threading').get_ident()");
        interpreter::attach(|py| {
            py.import("rt_runtime")
                .unwrap()
                .getattr("local")
                .unwrap()
                .setattr("mark", 7)
                .unwrap();
        })
        .unwrap();
        assert_eq!(eval::<i64>(c"rt.local.mark"), 7);
        assert_eq!(eval::<i64>(c"__import__('threading').get_ident()"), ident);

        interpreter::forget_thread_state();
        // A new thread state: the thread-local value is gone.
        assert!(!eval::<bool>(c"hasattr(rt.local, 'mark')"));
        interpreter::forget_thread_state();
    })
    .join()
    .unwrap();
}

#[test]
fn the_shim_and_its_interrupt_type() {
    start();
    interpreter::attach(|py| {
        let shim = interpreter::shim(py).expect("the shim is loaded");
        assert_eq!(
            shim.getattr("__name__")
                .unwrap()
                .extract::<String>()
                .unwrap(),
            "_snakebridge"
        );
        let interrupt: &Bound<'_, PyType> = interpreter::interrupt_type(py).expect("loaded");
        assert!(interrupt.is(shim.getattr("SnakeBridgeInterrupt").unwrap()));
        // A BaseException that `except Exception` does not catch.
        assert!(interrupt.is_subclass_of::<PyBaseException>().unwrap());
        assert!(!interrupt.is_subclass_of::<PyException>().unwrap());

        let stop = PyErr::from_value(interrupt.call0().unwrap());
        assert!(interpreter::is_interrupt(py, &stop));
        assert!(!interpreter::is_interrupt(py, &PyValueError::new_err("x")));
    })
    .unwrap();
}

#[test]
fn in_frame_gives_callees_a_caller_frame() {
    start();
    // On a thread of its own, with no Python frame on it yet.
    std::thread::spawn(|| {
        interpreter::attach(|py| {
            let caller = py.import("rt_runtime").unwrap().getattr("caller").unwrap();
            // Called straight from Rust, the function has no caller frame...
            let err = caller.call0().unwrap_err();
            assert!(err.is_instance_of::<PyValueError>(py), "{err}");

            // ...but inside in_frame it does: the shim's.
            let (tx, rx) = channel();
            interpreter::in_frame(py, move |py| {
                let caller = py.import("rt_runtime").unwrap().getattr("caller").unwrap();
                let found: (String, String) = caller.call0().unwrap().extract().unwrap();
                let stack: usize = py
                    .eval(c"len(__import__('inspect').stack())", None, None)
                    .unwrap()
                    .extract()
                    .unwrap();
                tx.send((found, stack)).unwrap();
            })
            .unwrap();
            let ((file, _function), stack) = rx.try_recv().expect("in_frame ran the closure");
            assert_eq!(file, "snakebridge_shim.py");
            assert!(stack >= 2, "{stack} frames");
        })
        .unwrap();
    })
    .join()
    .unwrap();
}
