//! A call whose result is awaitable (a coroutine, a Task, a Future) is awaited on the
//! library's event loop, a thread of its own: the library thread is free at once, so many
//! awaiting calls run concurrently. The answer is sent from the loop when the awaitable
//! is done. A timeout cancels the task inside the loop (its `finally` runs) and answers
//! `{:error, :timeout}`; the caller's death or `cancel` cancels it too.

use snakebridge_core::shim::Helper;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
use rustler::env::SavedTerm;
use rustler::{Encoder, LocalPid, OwnedEnv, Term};

use crate::call::ok_tuple;
use crate::convert::ToTerm;
use crate::error::{error_tuple, Error};
use crate::job::Ctl;

thread_local! {
    /// The awaitable a call on this thread returned, for `job` to hand to the loop.
    static PARKED: RefCell<Option<Py<PyAny>>> = const { RefCell::new(None) };
}

/// Whether `obj` is awaitable: its type has `__await__` (coroutines, Futures, Tasks).
/// Async generators are not (they are streams). Two pointer reads: no Python runs.
pub fn is_awaitable(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: attached (the Bound proves it); only the type's slots are read, and a type
    // object outlives its instances.
    unsafe {
        let async_methods = (*ffi::Py_TYPE(obj.as_ptr())).tp_as_async;
        !async_methods.is_null() && (*async_methods).am_await.is_some()
    }
}

/// Leaves the awaitable for the job that runs on this thread.
pub fn park(obj: Py<PyAny>) {
    PARKED.with(|p| *p.borrow_mut() = Some(obj));
}

pub fn take_parked() -> Option<Py<PyAny>> {
    PARKED.with(|p| p.borrow_mut().take())
}

/// What the done-callback needs to answer: taken once.
struct Answer {
    ctl: Arc<Ctl>,
    pid: LocalPid,
    env: OwnedEnv,
    /// `(tag, args)` of the call, in `env` (the context for Refs is in `args`).
    request: SavedTerm,
}

/// Hands `aw` to the library's loop; the answer goes to `pid` when it is done.
pub fn submit(
    py: Python<'_>,
    aw: Py<PyAny>,
    ctl: Arc<Ctl>,
    pid: LocalPid,
    env: OwnedEnv,
    request: SavedTerm,
    deadline: Option<Instant>,
) {
    let timeout = deadline.map(|at| at.saturating_duration_since(Instant::now()).as_secs_f64());
    let answer = Arc::new(Mutex::new(Some(Answer {
        ctl: ctl.clone(),
        pid,
        env,
        request,
    })));
    let take =
        |answer: &Mutex<Option<Answer>>| answer.lock().unwrap_or_else(|p| p.into_inner()).take();
    let for_loop = answer.clone();
    let done = move |args: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
        if let Some(answer) = take(&for_loop) {
            let future = args.get_item(0)?;
            respond(args.py(), answer, future.call_method0("result"));
        }
        Ok(())
    };
    let submitted = PyCFunction::new_closure(py, None, None, done)
        .and_then(|done| Helper::SubmitAwaitable.call1(py, (aw, done, timeout)));
    match submitted {
        Ok(future) => ctl.awaiting(py, future.unbind()),
        // The loop could not take it (it failed to start): that error is the answer.
        Err(e) => {
            if let Some(answer) = take(&answer) {
                respond(py, answer, Err(e));
            }
        }
    }
}

/// Sends the awaited value (or the error) from the loop thread.
fn respond(py: Python<'_>, answer: Answer, outcome: PyResult<Bound<'_, PyAny>>) {
    let Answer {
        ctl,
        pid,
        env,
        request,
    } = answer;
    let msg = env.run(|e| {
        let (tag, request): (Term, crate::ops::Request) = request
            .load(e)
            .decode()
            .expect("saved as a pair, decoded before");
        // Only a call can return an awaitable, and a call has a context.
        let result = match (outcome, request.context()) {
            (Ok(value), Some(ctx)) => match ToTerm::lazy(e, ctx).term(&value) {
                Ok(t) => ok_tuple(e, t),
                Err(err) => error_tuple(e, &Error::from(err)),
            },
            (Ok(_), None) => error_tuple(e, &Error::BadArg("an awaitable of no call".into())),
            (Err(err), _) => error_tuple(e, &awaited_error(py, err)),
        };
        env.save((tag, result).encode(e))
    });
    ctl.finish(env, &pid, msg, false);
}

/// The shim raises `AwaitTimeout` when the call's deadline cancelled the task.
fn awaited_error(py: Python<'_>, err: PyErr) -> Error {
    let is_timeout = Helper::AwaitTimeout
        .get(py)
        .is_ok_and(|t| err.get_type(py).is(&t));
    if is_timeout {
        Error::Timeout
    } else if is_cancelled_error(py, &err) {
        Error::Cancelled
    } else {
        Error::from(err)
    }
}

/// asyncio's CancelledError (or one named so), looked up without pyo3's cached type,
/// which panics when asyncio cannot be imported.
fn is_cancelled_error(py: Python<'_>, err: &PyErr) -> bool {
    let cancelled = py
        .import("asyncio")
        .and_then(|m| m.getattr("CancelledError"));
    cancelled.is_ok_and(|t| err.get_type(py).is_subclass(&t).unwrap_or(false))
        || err.get_type(py).name().is_ok_and(|n| n == "CancelledError")
}

/// Cancels the task of a cancelled job (on a cleanup thread: the caller may be a
/// scheduler, which never waits for the GIL).
pub fn cancel_later(future: Py<PyAny>) {
    snakebridge_core::janitor::CLEANUP.submit(Box::new(move |py| {
        if let Err(e) = future.bind(py).call_method0("cancel") {
            e.write_unraisable(py, None);
        }
    }));
}
