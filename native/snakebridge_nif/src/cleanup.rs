//! Python objects whose last handle the BEAM collected. Destructors run on schedulers and
//! must not wait for the GIL, so they queue the object here; one thread attaches and
//! releases (and closes iterators, so `finally` blocks run) whatever has queued up.

use crossbeam_channel::{unbounded, Receiver, Sender};
use once_cell::sync::Lazy;
use pyo3::prelude::*;

use crate::runtime;
use crate::stream::StreamState;

enum Work {
    Release(Py<PyAny>),
    Close(Py<PyAny>, Option<Py<PyAny>>),
}

static QUEUE: Lazy<(Sender<Work>, Receiver<Work>)> = Lazy::new(unbounded);

pub fn release(obj: Py<PyAny>) {
    let _ = QUEUE.0.send(Work::Release(obj));
}

pub fn release_stream(obj: Py<PyAny>, stream: StreamState) {
    let buf = stream.buf.into_inner().unwrap_or_else(|p| p.into_inner());
    if buf.exhausted {
        let _ = QUEUE.0.send(Work::Release(obj));
        if let Some(aloop) = buf.aloop {
            let _ = QUEUE.0.send(Work::Close(aloop, None));
        }
    } else {
        let _ = QUEUE.0.send(Work::Close(obj, buf.aloop));
    }
}

pub(crate) fn start() {
    std::thread::Builder::new()
        .name("snakebridge-cleanup".into())
        .stack_size(crate::bigstack::STACK_SIZE)
        .spawn(|| {
            let rx = QUEUE.1.clone();
            while let Ok(first) = rx.recv() {
                let _ = runtime::attach(|py| {
                    handle(py, first);
                    while let Ok(next) = rx.try_recv() {
                        handle(py, next);
                    }
                });
            }
        })
        .expect("spawn the cleanup thread");
}

fn handle(py: Python<'_>, work: Work) {
    let Ok(shim) = runtime::shim(py) else { return };
    let result = match work {
        Work::Release(obj) => {
            drop(obj);
            Ok(())
        }
        // Another handle (the same iterator returned twice) or Python code may still use
        // the iterator: close it only when this was the last reference.
        // (An async generator's loop stays open then: its finalizer may still use it.)
        Work::Close(obj, aloop) if unsafe { pyo3::ffi::Py_REFCNT(obj.as_ptr()) } > 1 => {
            drop((obj, aloop));
            Ok(())
        }
        Work::Close(obj, Some(aloop)) => shim.call_method1("aclose", (aloop, obj)).map(drop),
        Work::Close(obj, None) => shim.call_method1("close", (obj,)).map(drop),
    };
    if let Err(e) = result {
        // Like an exception in __del__: reported, never raised.
        e.write_unraisable(py, None);
    }
}

/// Objects queued and not yet released (tests wait for zero).
pub fn pending() -> usize {
    QUEUE.1.len()
}
