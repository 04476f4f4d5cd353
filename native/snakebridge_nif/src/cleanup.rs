//! Python objects whose last handle the BEAM collected. Destructors run on schedulers and
//! must not wait for the GIL, so they queue the release for a cleanup thread (the session's
//! own thread for a thread-affine session: thread-bound objects are closed where they were
//! made). Iterators are closed, so `finally` blocks run.

use pyo3::prelude::*;

use crate::pool::Pool;
use crate::runtime;
use crate::stream::StreamState;

/// Releases objects of no thread-affine session. Several threads: one finalizer that
/// blocks (a `__del__` waiting on a lock or a socket) must not stop the others.
pub static CLEANUP: Pool = Pool::new("snakebridge-cleanup", 4, false).without_spin();

enum Work {
    Release(Py<PyAny>),
    Close(Py<PyAny>, Option<Py<PyAny>>),
}

/// Queues the release of an object (and the close of its iterator, when it is a stream
/// that has not ended), on `lane` or the cleanup thread.
pub fn release(obj: Py<PyAny>, stream: Option<StreamState>, lane: Option<&'static Pool>) {
    let mut work = Vec::with_capacity(2);
    match stream {
        None => work.push(Work::Release(obj)),
        Some(stream) => {
            let buf = stream.buf.into_inner().unwrap_or_else(|p| p.into_inner());
            if buf.exhausted {
                work.push(Work::Release(obj));
                if let Some(aloop) = buf.aloop {
                    work.push(Work::Close(aloop, None));
                }
            } else {
                work.push(Work::Close(obj, buf.aloop));
            }
        }
    }
    lane.unwrap_or(&CLEANUP).submit(Box::new(move |py| {
        for w in work {
            handle(py, w);
        }
    }));
}

/// Releases an object now, closing it first when it is an iterator.
pub fn close_now(py: Python<'_>, obj: Py<PyAny>, is_stream: bool, aloop: Option<Py<PyAny>>) {
    if is_stream {
        handle(py, Work::Close(obj, aloop));
    } else {
        drop(obj);
    }
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
        // SAFETY: attached, and `obj` is a valid reference we own.
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

/// Releases queued and not yet done (tests wait for zero).
pub fn pending() -> usize {
    let s = CLEANUP.stats();
    s.queued + s.busy
}
