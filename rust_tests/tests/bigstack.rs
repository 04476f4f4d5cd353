//! The big stack: `bigstack::run` moves a call off a small thread stack, so deep Python
//! recursion through C (json, repr) runs on threads with a few hundred KiB of stack,
//! like the BEAM's dirty schedulers.

use std::sync::mpsc::channel;
use std::time::Duration;

use pyo3::prelude::*;
use snakebridge_core::bigstack;
use snakebridge_core::interpreter;
use snakebridge_core::threads::Threads;

/// A stack like a dirty scheduler's: json.dumps of 2000 nested lists overflows it.
const SMALL: usize = 256 << 10;
/// Nesting that needs a few MiB of C stack (and fits 16 MiB with room to spare).
const DEPTH: usize = 5000;

/// Runs `f` on a new thread with a small stack.
fn on_small_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(SMALL)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// This thread's own stack, as [low, high).
fn thread_stack() -> (usize, usize) {
    // SAFETY: `attr` is initialised by pthread_getattr_np for the calling thread and
    // destroyed after use; pthread_attr_getstack only writes the two locals.
    unsafe {
        let mut attr = std::mem::zeroed::<libc::pthread_attr_t>();
        assert_eq!(libc::pthread_getattr_np(libc::pthread_self(), &mut attr), 0);
        let mut addr = std::ptr::null_mut();
        let mut size = 0;
        assert_eq!(libc::pthread_attr_getstack(&attr, &mut addr, &mut size), 0);
        libc::pthread_attr_destroy(&mut attr);
        (addr as usize, addr as usize + size)
    }
}

/// The address of a local of the caller: where its stack is now.
#[inline(never)]
fn here() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

fn within((lo, hi): (usize, usize), at: usize) -> bool {
    (lo..hi).contains(&at)
}

#[test]
fn run_switches_to_a_stack_of_its_own_once() {
    rust_tests::start();
    on_small_thread(|| {
        let own = thread_stack();
        assert!(within(own, here()));
        let (outer, nested) = bigstack::run(|| {
            let outer = here();
            // Already on it: a nested run stays there.
            let nested = bigstack::run(here);
            (outer, nested)
        });
        assert!(!within(own, outer), "run stayed on the thread's stack");
        assert!(
            outer.abs_diff(nested) < 64 << 10,
            "a nested run switched again"
        );
        // Back on the thread's own stack afterwards; the next run switches again.
        assert!(within(own, here()));
        assert!(!within(own, bigstack::run(here)));
    });
}

#[test]
fn a_thread_started_with_a_big_stack_stays_on_it() {
    rust_tests::start();
    std::thread::Builder::new()
        .stack_size(bigstack::STACK_SIZE)
        .spawn(|| {
            bigstack::on_own_stack();
            let own = thread_stack();
            assert!(within(own, bigstack::run(here)));
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_panic_crosses_the_switch_and_the_thread_goes_on() {
    rust_tests::start();
    on_small_thread(|| {
        let caught = std::panic::catch_unwind(|| {
            bigstack::run(|| -> () { std::panic::panic_any("on the big stack") })
        });
        let payload = caught.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"on the big stack"));
        let own = thread_stack();
        assert!(!within(own, bigstack::run(here)));
        assert_eq!(bigstack::run(|| 6 * 7), 42);
    });
}

/// `json.dumps` and `repr` of DEPTH nested lists (the recursion limit raised for them).
fn deep_python(py: Python<'_>) -> (usize, usize) {
    let code = format!(
        "import sys, json\n\
         sys.setrecursionlimit(max(sys.getrecursionlimit(), {}))\n\
         x = []\n\
         for _ in range({DEPTH}):\n    x = [x]\n\
         lengths = (len(json.dumps(x)), len(repr(x)))\n",
        DEPTH * 4
    );
    let code = std::ffi::CString::new(code).unwrap();
    let g = pyo3::types::PyDict::new(py);
    py.run(&code, Some(&g), None).unwrap();
    g.get_item("lengths").unwrap().unwrap().extract().unwrap()
}

#[test]
fn deep_recursion_through_c_runs_on_a_small_thread() {
    rust_tests::start();
    // interpreter::attach runs on the big stack.
    let lengths = on_small_thread(|| interpreter::attach(deep_python).unwrap());
    assert_eq!(lengths, (2 * DEPTH + 2, 2 * DEPTH + 2));
}

#[test]
fn deep_recursion_runs_on_a_pool_thread() {
    rust_tests::start();
    static P: Threads = Threads::new("rt-bigstack", 1, false);
    let (tx, rx) = channel();
    P.submit(Box::new(move |py| tx.send(deep_python(py)).unwrap()));
    let lengths = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(lengths, (2 * DEPTH + 2, 2 * DEPTH + 2));
}

#[test]
fn too_deep_is_a_recursion_error_not_a_crash() {
    rust_tests::start();
    on_small_thread(|| {
        interpreter::attach(|py| {
            let err = py
                .run(
                    c"def f(n):\n    return f(n + 1)\nf(0)",
                    Some(&pyo3::types::PyDict::new(py)),
                    None,
                )
                .unwrap_err();
            assert!(err.is_instance_of::<pyo3::exceptions::PyRecursionError>(py));
            let v: i64 = py.eval(c"1 + 1", None, None).unwrap().extract().unwrap();
            assert_eq!(v, 2);
        })
        .unwrap();
    });
}
