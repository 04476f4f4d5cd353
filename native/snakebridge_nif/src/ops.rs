//! The operations a library thread runs for a caller (`job::submit`), one code path each:
//! calls (functions and methods), attributes, repr, len, iteration and stream steps.
//! Each runs attached, inside the thread's Python frame, as an interruptible job.

use std::sync::Arc;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use rustler::{Binary, Encoder, Env, ResourceArc, Term};

use crate::atoms::error;
use crate::awaitable;
use crate::call::{getattr_path, ok_tuple, target};
use crate::convert::{self, ToTerm};
use crate::error::Error;
use crate::objects::{self, Obj, PyObj};
use crate::stream::{self, StreamState};
use snakebridge_core::interrupt::{self, Job};
use snakebridge_core::iter::StreamType;
use snakebridge_core::shim::Helper;

/// What a caller asks a library thread to do: `SnakeBridge.Request` builds each one, and
/// this is the only place they are decoded (`{:call, on, name, argv, kwargs, ctx}`, ...).
#[derive(rustler::NifTaggedEnum)]
pub enum Request<'a> {
    /// The hand-off alone (benchmarks).
    Noop,
    /// `on.name(*argv, **kwargs)`: `on` is a module name or a Ref.
    Call(Term<'a>, Binary<'a>, Term<'a>, Term<'a>, Term<'a>),
    /// `stream_next`: one item.
    Next(Obj),
    /// `stream_next_batch`: up to `max` items.
    NextBatch(Obj, usize),
    /// `getattr(on, "a.b")`: `on` is a module name or a Ref.
    Getattr(Term<'a>, String, Term<'a>),
    /// `setattr` on a Ref's object: `[name, value]`.
    Setattr(Obj, Term<'a>, Term<'a>),
    Repr(Obj),
    Len(Obj),
    /// A fresh iterator over a Ref's object.
    Iter(Obj),
    /// Items given back to a stream (they come first again).
    PushFront(Obj, Vec<Term<'a>>),
    SetBatch(Obj, usize),
    Info(Obj),
    /// `eval_code(code, scope)` of the shim.
    Eval(Term<'a>, Term<'a>),
    /// `reload_module(name)` of the shim.
    Reload(Term<'a>, Term<'a>),
    /// The `atexit` handlers (the application stops).
    RunAtexit(Term<'a>, Term<'a>),
    /// Ends Python's child processes (the application stops).
    EndChildren(Term<'a>, Term<'a>),
}

impl<'a> Request<'a> {
    /// The context the answer's refs carry, for requests that have one.
    pub fn context(&self) -> Option<Term<'a>> {
        match self {
            Request::Call(.., ctx)
            | Request::Getattr(.., ctx)
            | Request::Setattr(.., ctx)
            | Request::Eval(_, ctx)
            | Request::Reload(_, ctx)
            | Request::RunAtexit(_, ctx)
            | Request::EndChildren(_, ctx) => Some(*ctx),
            _ => None,
        }
    }
}

/// Runs `request` and gives the whole answer: `{:ok, value}` or `{:error, reason}`.
pub fn dispatch<'a>(
    py: Python<'_>,
    env: Env<'a>,
    request: Term<'a>,
    job: &Arc<Job>,
    deadline: Option<Instant>,
) -> Term<'a> {
    let guarded = |f: &dyn Fn(Python<'_>) -> Result<Term<'a>, Error>| {
        interrupt::run_job(py, job, deadline, f)
    };
    let result = (|| {
        if deadline.is_some_and(|at| Instant::now() >= at) {
            // Waited in the queue past its deadline: not started at all.
            return Err(Error::Timeout);
        }
        let request: Request<'a> = request
            .decode()
            .map_err(|_| Error::BadArg(format!("request {request:?}")))?;
        match request {
            Request::Noop => Ok(ok_tuple(env, true.encode(env))),
            Request::Call(on, name, argv, kwargs, ctx) => {
                call_op(py, env, (on, name, argv, kwargs, ctx), job, deadline)
            }
            Request::Next(Obj(r)) => stream::next(py, env, r, job, deadline),
            Request::NextBatch(Obj(r), max) => stream::next_batch(py, env, (r, max), job, deadline),
            Request::Getattr(on, name, ctx) => guarded(&|py| {
                let value = getattr_path(target(py, on)?, &name)?;
                Ok(ok_tuple(env, ToTerm::lazy(env, ctx).term(&value)?))
            }),
            Request::Setattr(Obj(on), argv, ctx) => helper_op(
                py,
                env,
                Helper::SetattrPath,
                Some(&on),
                (argv, ctx),
                job,
                deadline,
            ),
            Request::Repr(Obj(r)) => guarded(&|py| {
                Ok(ok_tuple(
                    env,
                    r.inner.obj(py)?.repr()?.to_string().encode(env),
                ))
            }),
            Request::Len(Obj(r)) => len_op(py, env, r, job, deadline),
            Request::Iter(Obj(r)) => guarded(&|py| iter_op(py, env, &r)),
            Request::PushFront(Obj(r), items) => stream::push_front(py, env, (r, items), job),
            Request::SetBatch(Obj(r), n) => stream::set_batch(py, env, (r, n), job),
            Request::Info(Obj(r)) => stream::info(py, env, r, job),
            Request::Eval(argv, ctx) => {
                helper_op(py, env, Helper::EvalCode, None, (argv, ctx), job, deadline)
            }
            Request::Reload(argv, ctx) => helper_op(
                py,
                env,
                Helper::ReloadModule,
                None,
                (argv, ctx),
                job,
                deadline,
            ),
            Request::RunAtexit(argv, ctx) => {
                helper_op(py, env, Helper::RunAtexit, None, (argv, ctx), job, deadline)
            }
            Request::EndChildren(argv, ctx) => helper_op(
                py,
                env,
                Helper::EndChildren,
                None,
                (argv, ctx),
                job,
                deadline,
            ),
        }
    })();
    result.unwrap_or_else(|e| crate::error::error_tuple(env, &e))
}

type CallArgs<'a> = (Term<'a>, Binary<'a>, Term<'a>, Term<'a>, Term<'a>);

/// `on.name(*argv, **kwargs)`: `on` is a module name or a Ref.
/// Results whose term is about this large (a guess: 16 bytes per container item) are
/// released after the answer is sent.
const RELEASE_LATER_AT: usize = 1 << 20;

/// `{:ok, term}` of a call's result. A large result is released later, on a cleanup
/// thread (on a lane: this thread, after this job): freeing a million objects takes
/// milliseconds that the caller need not wait for.
fn answer<'a>(env: Env<'a>, to_term: &ToTerm<'a>, value: Bound<'_, PyAny>) -> PyResult<Term<'a>> {
    let term = to_term.term(&value)?;
    if convert::approx_size(&value) >= RELEASE_LATER_AT {
        let lane = snakebridge_core::threads::Threads::current().filter(|t| t.is_lane());
        snakebridge_core::janitor::queue(
            vec![snakebridge_core::janitor::Work::Release(value.unbind())],
            lane,
        );
    }
    Ok(ok_tuple(env, term))
}

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
        Ok(answer(env, &to_term, value)?)
    })
}

/// `helper(on's object, *argv)` (without `on`: `helper(*argv)`), a function of the shim:
/// converted and run like a call (interruptible; a bad term never reaches Python).
fn helper_op<'a>(
    py: Python<'_>,
    env: Env<'a>,
    helper: Helper,
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
        let func = helper.get(py)?;
        let value = func.call1(PyTuple::new(py, items)?)?;
        Ok(answer(env, &to_term, value)?)
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
    let maker = obj.get_type().module()?.to_string();
    let state = StreamState::new(&it, kind, &maker)?;
    let inner = objects::new_object(it.unbind(), res.inner.ctx.clone(), Some(state));
    let stream = objects::stream_struct(env, inner);
    Ok(ok_tuple(env, (stream, shared).encode(env)))
}
