//! Python objects whose last handle the BEAM collected. Destructors run on schedulers and
//! must not wait for the GIL, so they queue the release for a cleanup thread (the session's
//! own thread for a thread-affine session: thread-bound objects are closed where they were
//! made). Iterators are closed, so `finally` blocks run.

use crate::shim::Helper;
use pyo3::prelude::*;

use crate::threads::Threads;

/// Releases objects of no thread-affine session. Several threads: one finalizer that
/// blocks (a `__del__` waiting on a lock or a socket) must not stop the others.
pub static CLEANUP: Threads = Threads::new("snakebridge-cleanup", 4, false).without_spin();

/// What to do with an object whose last handle is gone.
pub enum Work {
    /// Drop the reference.
    Release(Py<PyAny>),
    /// Close an iterator (an async generator on its loop), then drop it.
    Close(Py<PyAny>, Option<Py<PyAny>>),
}

/// Queues `work` on `lane` (a thread-affine session's thread) or the cleanup threads.
/// Never waits for the GIL: callable from a BEAM destructor.
pub fn queue(work: Vec<Work>, lane: Option<&'static Threads>) {
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
        Work::Close(obj, Some(aloop)) => Helper::Aclose.call1(py, (aloop, obj)).map(drop),
        Work::Close(obj, None) => Helper::Close.call1(py, (obj,)).map(drop),
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
