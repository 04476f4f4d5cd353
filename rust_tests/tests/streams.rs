//! Stream objects without the BEAM: `next()` for each kind of stream, the wire-id
//! registry, and closing an iterator when its last handle is dropped.

use std::ffi::CStr;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use snakebridge_nif::objects::{self, Ctx, ObjInner};
use snakebridge_nif::runtime;
use snakebridge_nif::stream::{self, StreamState, StreamType};

static INIT: Once = Once::new();

const SETUP: &CStr = cr#"
import sys
mod = type(sys)("rt_streams")
exec('''
state = {"finally": 0, "afinally": 0, "produced": 0}

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

def fails():
    yield 1
    raise KeyError("k")
''', mod.__dict__)
sys.modules["rt_streams"] = mod
"#;

fn start() {
    INIT.call_once(|| {
        runtime::init(None, vec![]).expect("runtime::init");
        runtime::attach(|py| py.run(SETUP, None, None).expect("setup")).unwrap();
    });
}

fn ctx() -> Arc<Ctx> {
    Arc::new(Ctx {
        session_id: "default".into(),
        pool_name: None,
        library: "rt_streams".into(),
        session: None,
    })
}

/// A stream object over the result of `code` (evaluated with rt_streams imported).
fn make(code: &CStr) -> Arc<ObjInner> {
    runtime::attach(|py| {
        let g = PyDict::new(py);
        g.set_item("rt", py.import("rt_streams").unwrap()).unwrap();
        let obj = py.eval(code, Some(&g), None).unwrap();
        let st = stream::detect(&obj).expect("a stream");
        let state = StreamState::new(&obj, st).unwrap();
        objects::new_object(obj.unbind(), ctx(), Some(state))
    })
    .unwrap()
}

fn next_i64(inner: &ObjInner) -> PyResult<Option<i64>> {
    let stream = inner.stream.as_ref().unwrap();
    let mut buf = stream.lock();
    runtime::attach(|py| {
        let obj = inner.obj(py).expect("not released");
        stream::next_raw(py, &obj, stream.stream_type, &mut buf.aloop)
            .and_then(|o| o.map(|v| v.extract::<i64>()).transpose())
    })
    .unwrap()
}

fn state(key: &str) -> i64 {
    runtime::attach(|py| {
        py.import("rt_streams")
            .unwrap()
            .getattr("state")
            .unwrap()
            .get_item(key)
            .unwrap()
            .extract()
            .unwrap()
    })
    .unwrap()
}

fn wait_for(what: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    what()
}

#[test]
fn a_generator_steps_and_ends() {
    start();
    let s = make(c"(x * x for x in range(3))");
    let st = s.stream.as_ref().unwrap();
    assert_eq!(st.stream_type, StreamType::Generator);
    assert_eq!(st.type_name, "generator");
    assert_eq!(st.python_module, "builtins");
    assert_eq!(next_i64(&s).unwrap(), Some(0));
    assert_eq!(next_i64(&s).unwrap(), Some(1));
    assert_eq!(next_i64(&s).unwrap(), Some(4));
    assert_eq!(next_i64(&s).unwrap(), None);
}

#[test]
fn an_iterator_records_its_type() {
    start();
    let s = make(c"iter([7, 8])");
    let st = s.stream.as_ref().unwrap();
    assert_eq!(st.stream_type, StreamType::Iterator);
    assert_eq!(st.type_name, "list_iterator");
    assert_eq!(next_i64(&s).unwrap(), Some(7));
    assert_eq!(next_i64(&s).unwrap(), Some(8));
    assert_eq!(next_i64(&s).unwrap(), None);
}

#[test]
fn an_async_generator_is_driven_by_its_own_loop() {
    start();
    let s = make(c"rt.agen(3)");
    assert_eq!(
        s.stream.as_ref().unwrap().stream_type,
        StreamType::AsyncGenerator
    );
    assert_eq!(next_i64(&s).unwrap(), Some(0));
    assert_eq!(next_i64(&s).unwrap(), Some(10));
    assert_eq!(next_i64(&s).unwrap(), Some(20));
    assert_eq!(next_i64(&s).unwrap(), None);
}

#[test]
fn a_python_error_comes_out_of_next() {
    start();
    let s = make(c"rt.fails()");
    assert_eq!(next_i64(&s).unwrap(), Some(1));
    let err = next_i64(&s).unwrap_err();
    let is_key_error =
        runtime::attach(|py| err.is_instance_of::<pyo3::exceptions::PyKeyError>(py)).unwrap();
    assert!(is_key_error, "{err}");
}

#[test]
fn a_live_stream_is_found_by_its_wire_id_until_dropped() {
    start();
    let s = make(c"iter([1])");
    let id = objects::format_id("sr", s.id);
    let n = objects::parse_stream_id(&id).unwrap();
    let found = objects::lookup_stream(n).expect("live");
    assert!(Arc::ptr_eq(&found, &s));
    drop(found);
    drop(s);
    assert!(objects::lookup_stream(n).is_none());
}

// The counters are shared, so the two close tests run as one.
#[test]
fn dropping_the_last_handle_closes_the_iterator() {
    start();

    // A started generator: its finally runs when the last handle goes.
    let before = state("finally");
    let s = make(c"rt.gen(100)");
    assert_eq!(next_i64(&s).unwrap(), Some(0));
    assert_eq!(next_i64(&s).unwrap(), Some(1));
    let other = s.clone();
    drop(s);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(state("finally"), before, "closed while a handle was alive");
    drop(other);
    assert!(
        wait_for(|| state("finally") == before + 1),
        "finally did not run"
    );
    // closing does not pull more items
    assert_eq!(state("produced"), 2);

    // An async generator: closed on its own loop (aclose), its finally runs.
    let abefore = state("afinally");
    let a = make(c"rt.agen(100)");
    assert_eq!(next_i64(&a).unwrap(), Some(0));
    drop(a);
    assert!(
        wait_for(|| state("afinally") == abefore + 1),
        "async finally did not run"
    );
}
