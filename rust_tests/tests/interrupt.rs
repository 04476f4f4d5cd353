//! Timeouts stop running Python code, and leave nothing behind for the next job.
//! Python is started as the NIF starts it (`interpreter::init`), once per test binary.

use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use rust_tests::start;
use snakebridge_core::Error;
use snakebridge_core::{interpreter, interrupt};

/// Runs `code` (statements) under `timeout`, on this thread.
fn run_code(code: &std::ffi::CStr, timeout: Option<Duration>) -> Result<(), Error> {
    interpreter::attach(|py| {
        interrupt::run(py, timeout, |py| {
            let globals = PyDict::new(py);
            py.run(code, Some(&globals), None).map_err(Error::from)
        })
    })
    .expect("attached")
}

fn eval_i64(code: &std::ffi::CStr, timeout: Option<Duration>) -> Result<i64, Error> {
    interpreter::attach(|py| {
        interrupt::run(py, timeout, |py| {
            Ok(py.eval(code, None, None).map_err(Error::from)?.extract()?)
        })
    })
    .expect("attached")
}

#[test]
fn a_busy_loop_is_stopped_at_the_deadline() {
    start();
    let t0 = Instant::now();
    let result = run_code(c"while True:\n    pass\n", Some(Duration::from_millis(100)));
    let took = t0.elapsed();
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(took >= Duration::from_millis(95), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");

    // The next job on this thread runs clean.
    assert_eq!(eval_i64(c"1 + 1", Some(Duration::from_secs(5))).unwrap(), 2);
    assert_eq!(eval_i64(c"sum(range(1000))", None).unwrap(), 499500);
}

#[test]
fn except_exception_cannot_swallow_the_stop() {
    start();
    let code = c"
while True:
    try:
        while True:
            pass
    except Exception:
        pass
";
    let t0 = Instant::now();
    let result = run_code(code, Some(Duration::from_millis(100)));
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(t0.elapsed() < Duration::from_millis(1500));
    assert_eq!(eval_i64(c"3 * 3", None).unwrap(), 9);
}

#[test]
fn a_job_that_swallows_everything_still_reports_timeout() {
    start();
    // The loop eats the stop (BaseException) and finishes: the job still timed out, and
    // nothing pending is left for the next job.
    let code = c"
import time
try:
    while True:
        pass
except BaseException:
    pass
";
    let result = run_code(code, Some(Duration::from_millis(50)));
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert_eq!(eval_i64(c"2 + 5", None).unwrap(), 7);
}

#[test]
fn a_job_that_ends_before_its_deadline_is_not_hit_later() {
    start();
    assert_eq!(
        eval_i64(c"40 + 2", Some(Duration::from_millis(30))).unwrap(),
        42
    );
    // Past the old deadline, Python code on this thread runs undisturbed.
    std::thread::sleep(Duration::from_millis(80));
    let code = c"
import time
end = time.time() + 0.1
while time.time() < end:
    pass
";
    assert!(run_code(code, None).is_ok());
    assert!(run_code(code, Some(Duration::from_secs(5))).is_ok());
}

#[test]
fn timeouts_on_several_threads_stop_only_their_own_job() {
    start();
    let busy = std::thread::spawn(|| {
        let r = run_code(c"while True:\n    pass\n", Some(Duration::from_millis(150)));
        assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    });
    let fine = std::thread::spawn(|| {
        let code = c"
import time
end = time.time() + 0.3
n = 0
while time.time() < end:
    n += 1
";
        run_code(code, Some(Duration::from_secs(10)))
    });
    busy.join().unwrap();
    assert!(fine.join().unwrap().is_ok());
}

#[test]
fn a_python_error_is_described() {
    start();
    let result = run_code(c"raise ValueError('nope')", Some(Duration::from_secs(5)));
    match result {
        Err(Error::Python {
            type_name, message, ..
        }) => {
            assert_eq!(type_name, "ValueError");
            assert_eq!(message, "nope");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_sleeping_job_is_stopped() {
    start();
    // time.sleep checks for pending calls; the async exception fires when it wakes or at
    // the next bytecode: sleep in small steps.
    let t0 = Instant::now();
    let code = c"
import time
for _ in range(1000):
    time.sleep(0.01)
";
    let result = run_code(code, Some(Duration::from_millis(100)));
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn attach_is_usable_after_init() {
    start();
    let v = interpreter::attach(|py| {
        py.eval(c"__import__('sys').version", None, None)
            .unwrap()
            .to_string()
    })
    .unwrap();
    assert!(v.starts_with("3."), "{v}");
    let shim_ok = interpreter::attach(|py| interpreter::shim(py).is_ok()).unwrap();
    assert!(shim_ok);
}
