//! The operations a pool thread runs for a caller (`job::submit`), one code path each:
//! calls (functions and methods), attributes, repr, len, iteration and stream steps.
//! Each runs attached, inside the thread's Python frame, as an interruptible job.

use std::sync::Arc;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use rustler::{Atom, Binary, Encoder, Env, ResourceArc, Term};

use crate::atoms::error;
use crate::atoms::{
    call, end_children, eval, getattr, info, iter, len, next, next_batch, noop, push_front, reload,
    repr, run_atexit, session_release, set_batch, setattr,
};
use crate::awaitable;
use crate::call::{getattr_path, ok_tuple, target};
use crate::convert::{self, ToTerm};
use crate::error::Error;
use crate::objects::{self, PyObj};
use crate::stream::{self, StreamState};
use snakebridge_core::interrupt::{self, Job};
use snakebridge_core::iter::StreamType;

/// Runs `op` with `args` (a tuple) and gives the whole answer: `{:ok, value}` or
/// `{:error, reason}`.
pub fn dispatch<'a>(
    py: Python<'_>,
    env: Env<'a>,
    op: Atom,
    args: Term<'a>,
    job: &Arc<Job>,
    deadline: Option<Instant>,
) -> Term<'a> {
    let bad = |_| Error::BadArg(format!("arguments of {op:?}"));
    // Most operations take one handle.
    let one = || {
        args.decode::<(ResourceArc<PyObj>,)>()
            .map(|(r,)| r)
            .map_err(bad)
    };
    let guarded = |f: &dyn Fn(Python<'_>) -> Result<Term<'a>, Error>| {
        interrupt::run_job(py, job, deadline, f)
    };
    let result = (|| {
        if deadline.is_some_and(|at| Instant::now() >= at) {
            // Waited in the queue past its deadline: not started at all.
            Err(Error::Timeout)
        } else if op == noop() {
            // The hand-off alone (benchmarks).
            Ok(ok_tuple(env, true.encode(env)))
        } else if op == call() {
            args.decode()
                .map_err(bad)
                .and_then(|a| call_op(py, env, a, job, deadline))
        } else if op == next() {
            one().and_then(|r| stream::next(py, env, r, job, deadline))
        } else if op == next_batch() {
            args.decode()
                .map_err(bad)
                .and_then(|a| stream::next_batch(py, env, a, job, deadline))
        } else if op == getattr() {
            let (on, name, ctx): (Term, String, Term) = args.decode().map_err(bad)?;
            guarded(&|py| {
                let value = getattr_path(target(py, on)?, &name)?;
                Ok(ok_tuple(env, ToTerm::lazy(env, ctx).term(&value)?))
            })
        } else if op == repr() {
            let r = one()?;
            guarded(&|py| {
                Ok(ok_tuple(
                    env,
                    r.inner.obj(py)?.repr()?.to_string().encode(env),
                ))
            })
        } else if op == len() {
            one().and_then(|r| len_op(py, env, r, job, deadline))
        } else if op == iter() {
            let r = one()?;
            guarded(&|py| iter_op(py, env, &r))
        } else if op == push_front() {
            args.decode()
                .map_err(bad)
                .and_then(|a| stream::push_front(py, env, a, job))
        } else if op == set_batch() {
            args.decode()
                .map_err(bad)
                .and_then(|a| stream::set_batch(py, env, a, job))
        } else if op == info() {
            one().and_then(|r| stream::info(py, env, r, job))
        } else if op == session_release() {
            args.decode::<(String,)>()
                .map_err(bad)
                .map(|(id,)| release_op(py, env, &id))
        } else if op == setattr() {
            let (on, argv, ctx): (ResourceArc<PyObj>, Term, Term) = args.decode().map_err(bad)?;
            helper_op(
                py,
                env,
                "setattr_path",
                Some(&on),
                (argv, ctx),
                job,
                deadline,
            )
        } else if let Some(helper) = helper_of(op) {
            let request = args.decode().map_err(bad)?;
            helper_op(py, env, helper, None, request, job, deadline)
        } else {
            Err(Error::BadArg(format!("unknown operation {op:?}")))
        }
    })();
    result.unwrap_or_else(|e| crate::error::error_tuple(env, &e))
}

type CallArgs<'a> = (Term<'a>, Binary<'a>, Term<'a>, Term<'a>, Term<'a>);

/// `on.name(*argv, **kwargs)`: `on` is a module name or a Ref.
fn call_op<'a>(
    py: Python<'_>,
    env: Env<'a>,
    (on, name, argv, kwargs, ctx): CallArgs<'a>,
    job: &Arc<Job>,
    deadline: Option<Instant>,
) -> Result<Term<'a>, Error> {
    let name = std::str::from_utf8(name.as_slice())
        .map_err(|_| Error::BadArg("function name must be UTF-8".into()))?;
    // Convert everything before calling, so a bad term never reaches Python. A stream
    // argument that another process is iterating is waited for until the deadline.
    let stopper = job.clone();
    let give_up: convert::GiveUp = Box::new(move || {
        stopper.stopped().is_some() || deadline.is_some_and(|at| Instant::now() >= at)
    });
    let (pargs, pkwargs) = match convert::call_args_to_py(py, argv, kwargs, Some(give_up)) {
        Ok(converted) => converted,
        Err(e) => return e.into_result(env).map(|r| (error(), r).encode(env)),
    };
    let to_term = ToTerm::lazy(env, ctx);
    interrupt::run_job(py, job, deadline, |py| {
        let func = getattr_path(target(py, on)?, name)?;
        let value = func.call(pargs, pkwargs.as_ref())?;
        if awaitable::is_awaitable(&value) {
            // Awaited on the library's loop, which answers (see job.rs).
            awaitable::park(value.unbind());
            return Ok(ok_tuple(env, true.encode(env)));
        }
        Ok(ok_tuple(env, to_term.term(&value)?))
    })
}

/// The shim helper (`# ---- helpers` in shim.py) behind an operation that is not a call.
fn helper_of(op: Atom) -> Option<&'static str> {
    [
        (eval(), "eval_code"),
        (reload(), "reload_module"),
        (run_atexit(), "run_atexit"),
        (end_children(), "end_children"),
    ]
    .into_iter()
    .find(|(a, _)| *a == op)
    .map(|(_, helper)| helper)
}

/// `helper(on's object, *argv)` (without `on`: `helper(*argv)`), a function of the shim:
/// converted and run like a call (interruptible; a bad term never reaches Python).
fn helper_op<'a>(
    py: Python<'_>,
    env: Env<'a>,
    helper: &str,
    on: Option<&ResourceArc<PyObj>>,
    (argv, ctx): (Term<'a>, Term<'a>),
    job: &Arc<Job>,
    deadline: Option<Instant>,
) -> Result<Term<'a>, Error> {
    let stopper = job.clone();
    let give_up: convert::GiveUp = Box::new(move || {
        stopper.stopped().is_some() || deadline.is_some_and(|at| Instant::now() >= at)
    });
    let no_kwargs = Vec::<Term<'a>>::new().encode(env);
    let pargs = match convert::call_args_to_py(py, argv, no_kwargs, Some(give_up)) {
        Ok((pargs, _)) => pargs,
        Err(e) => return e.into_result(env).map(|r| (error(), r).encode(env)),
    };
    let to_term = ToTerm::lazy(env, ctx);
    interrupt::run_job(py, job, deadline, |py| {
        let mut items = Vec::with_capacity(pargs.len() + 1);
        if let Some(res) = on {
            items.push(res.inner.obj(py)?);
        }
        items.extend(pargs.iter());
        let func = snakebridge_core::runtime::shim(py)?.getattr(helper)?;
        let value = func.call1(PyTuple::new(py, items)?)?;
        Ok(ok_tuple(env, to_term.term(&value)?))
    })
}

fn len_op<'a>(
    py: Python<'_>,
    env: Env<'a>,
    res: ResourceArc<PyObj>,
    job: &Arc<Job>,
    deadline: Option<Instant>,
) -> Result<Term<'a>, Error> {
    // A stream's items pulled ahead count too (held locked while Python counts).
    let buf = match &res.inner.stream {
        Some(s) => Some(stream::locked(py, s, job)?),
        None => None,
    };
    let buffered = buf.as_ref().map_or(0, |b| b.buffered());
    interrupt::run_job(py, job, deadline, |py| {
        let obj = res.inner.obj(py)?;
        if !obj.hasattr("__len__")? {
            return Err(Error::NoLen);
        }
        Ok(ok_tuple(env, (obj.len()? + buffered).encode(env)))
    })
}

/// A fresh iterator over a Ref's object (each enumeration of a Ref starts afresh), and
/// whether it is the object itself (a file is its own iterator): then its state is
/// shared, and it must not be pulled ahead.
fn iter_op<'a>(py: Python<'_>, env: Env<'a>, res: &ResourceArc<PyObj>) -> Result<Term<'a>, Error> {
    let obj = res.inner.obj(py)?;
    let it = obj.try_iter()?.into_any();
    let shared = it.is(&obj);
    let kind = snakebridge_core::iter::detect(&it).unwrap_or(StreamType::Iterator);
    let state = StreamState::new(&it, kind)?;
    let inner = objects::new_object(it.unbind(), res.inner.ctx.clone(), Some(state));
    let stream = objects::stream_struct(env, inner);
    Ok(ok_tuple(env, (stream, shared).encode(env)))
}

/// Releases a session's refs and streams (on its own thread, when it has one).
fn release_op<'a>(py: Python<'_>, env: Env<'a>, id: &str) -> Term<'a> {
    if let Some(session) = crate::session::lookup(id) {
        session.release_now(py);
    }
    ok_tuple(env, true.encode(env))
}
