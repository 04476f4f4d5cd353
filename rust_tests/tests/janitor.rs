//! Objects whose last handle is gone: the janitor closes iterators (so `finally` runs)
//! and releases objects on its own threads, never on the dropping thread.

use std::ffi::CStr;
use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use snakebridge_core::janitor::{self, Work};
use snakebridge_core::threads::LANE;
use snakebridge_core::{interpreter, iter};

const MODULE: &CStr = cr#"
state = {"finally": 0, "afinally": 0, "produced": 0, "deleted": 0}

def gen(n):
    try:
        for i in range(n):
            state["produced"] += 1
            yield i
    finally:
        state["finally"] += 1

async def agen(n):
    try:
        for i in range(n):
            yield i * 10
    finally:
        state["afinally"] += 1

class Tracked:
    def __del__(self):
        state["deleted"] += 1
"#;

/// Python started, with the module rt_janitor.
fn start() {
    rust_tests::start_with_module("rt_janitor", MODULE);
}

fn eval(code: &CStr) -> Py<PyAny> {
    interpreter::attach(|py| {
        let g = PyDict::new(py);
        g.set_item("rt", py.import("rt_janitor").unwrap()).unwrap();
        py.eval(code, Some(&g), None).unwrap().unbind()
    })
    .unwrap()
}

fn state(key: &str) -> i64 {
    interpreter::attach(|py| {
        let state = py.import("rt_janitor").unwrap().getattr("state").unwrap();
        state.get_item(key).unwrap().extract().unwrap()
    })
    .unwrap()
}

/// Queues `work` on a single-thread lane and waits until it has run: a task queued
/// after it on the same lane runs after it.
fn run_on_lane(work: Vec<Work>) {
    janitor::queue(work, Some(&LANE[0]));
    let (tx, rx) = mpsc::channel();
    LANE[0].submit(Box::new(move |_py| tx.send(()).unwrap()));
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the lane ran the work");
}

fn step(obj: &Py<PyAny>) -> i64 {
    interpreter::attach(|py| {
        let o = obj.bind(py);
        let kind = iter::detect(o).unwrap();
        let item = iter::next_raw(py, o, kind, &mut None).unwrap().unwrap();
        item.extract().unwrap()
    })
    .unwrap()
}

// The counters are shared, so the close tests run as one.
#[test]
fn a_closed_generator_runs_its_finally_once_its_last_reference_goes() {
    start();
    let before = state("finally");
    let g = eval(c"rt.gen(100)");
    assert_eq!(step(&g), 0);
    assert_eq!(step(&g), 1);

    // Another reference is alive: closing would take the iterator from under it.
    let other = interpreter::attach(|py| g.clone_ref(py)).unwrap();
    run_on_lane(vec![Work::Close(g, None)]);
    assert_eq!(
        state("finally"),
        before,
        "closed while a reference was alive"
    );
    assert_eq!(step(&other), 2);

    run_on_lane(vec![Work::Close(other, None)]);
    assert_eq!(state("finally"), before + 1, "finally did not run");
    // closing does not pull more items
    assert_eq!(state("produced"), 3);

    // An async generator is closed on its own loop (aclose).
    let abefore = state("afinally");
    let a = eval(c"rt.agen(100)");
    let mut aloop = None;
    let first: i64 = interpreter::attach(|py| {
        let o = a.bind(py);
        let item = iter::next_raw(py, o, iter::StreamType::AsyncGenerator, &mut aloop);
        item.unwrap().unwrap().extract().unwrap()
    })
    .unwrap();
    assert_eq!(first, 0);
    run_on_lane(vec![Work::Close(a, aloop)]);
    assert_eq!(state("afinally"), abefore + 1, "async finally did not run");
}

#[test]
fn a_released_object_is_freed_by_the_janitor() {
    start();
    let before = state("deleted");
    let obj = eval(c"rt.Tracked()");
    run_on_lane(vec![Work::Release(obj)]);
    assert_eq!(state("deleted"), before + 1);
}

#[test]
fn queueing_never_needs_the_gil() {
    start();
    let before = state("deleted");
    let obj = eval(c"rt.Tracked()");
    // Hold the GIL on another thread while this one queues: queue returns at once.
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        interpreter::attach(|_py| {
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
        })
        .unwrap();
    });
    held_rx.recv().unwrap();
    let (queued_tx, queued_rx) = mpsc::channel();
    std::thread::spawn(move || {
        janitor::queue(vec![Work::Release(obj)], None);
        queued_tx.send(()).unwrap();
    });
    let queued = queued_rx.recv_timeout(Duration::from_secs(10));
    go_tx.send(()).unwrap();
    assert!(queued.is_ok(), "queue waited for the GIL");
    holder.join().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while state("deleted") == before {
        assert!(std::time::Instant::now() < deadline, "never released");
        std::thread::sleep(Duration::from_millis(5));
    }
}
