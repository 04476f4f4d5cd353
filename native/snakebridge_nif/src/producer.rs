//! Callback streaming: a Python producer runs on a library thread (`threads::STREAMS`, or the
//! session's own thread) and sends its items to the calling process in batches, within a
//! window of unacknowledged batches (backpressure). A cancel (halt, timeout, dead caller)
//! stops the producer and closes the iterator; after `stream_cancel` returns, no message
//! of the job is sent but the `{tag, :finished}` the caller may ask for.

use snakebridge_core::shim::Helper;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use rustler::env::SavedTerm;
use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv, ResourceArc, Term};

use crate::atoms::{chunks, done, finished, ok};
use crate::call;
use crate::convert::{self, ToTerm};
use crate::error::Error;
use crate::objects::Ctx;
use crate::output;
use snakebridge_core::interrupt::Job;
use snakebridge_core::iter::StreamType;

#[derive(Default)]
struct Flow {
    credits: usize,
    cancelled: bool,
    /// The last message (`:done`) was sent.
    answered: bool,
    finished: bool,
    /// The caller waits for `{tag, :finished}` (its iterator closed, its thread free).
    notify: bool,
    /// Bytes sent and not acknowledged yet, and each unacknowledged batch's size.
    in_flight: usize,
    sizes: std::collections::VecDeque<usize>,
    max_bytes: usize,
}

impl Flow {
    /// Room for one more batch: within the window, and within the byte budget (one
    /// batch always fits, however large).
    fn room(&self) -> bool {
        self.credits > 0 && (self.in_flight == 0 || self.in_flight < self.max_bytes)
    }
}

/// What the caller and the producer share.
pub struct Shared {
    flow: Mutex<Flow>,
    cv: Condvar,
    job: OnceLock<Arc<Job>>,
}

impl Shared {
    fn flow(&self) -> std::sync::MutexGuard<'_, Flow> {
        self.flow.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the producer; true when it had not ended (it sends nothing more now).
    fn cancel(&self) -> bool {
        let mut flow = self.flow();
        if flow.finished || flow.cancelled || flow.answered {
            return false;
        }
        flow.cancelled = true;
        drop(flow);
        self.cv.notify_all();
        // Stops Python code that is running now; the producer checks the flag otherwise.
        if let Some(job) = self.job.get() {
            snakebridge_core::interrupt::cancel(job);
        }
        true
    }

    /// Takes room in the window if there is some: `Some(true)`; `Some(false)` once
    /// cancelled; `None` to wait.
    fn try_credit(&self) -> Option<bool> {
        let mut flow = self.flow();
        if flow.cancelled {
            return Some(false);
        }
        if !flow.room() {
            return None;
        }
        flow.credits -= 1;
        Some(true)
    }

    /// Waits (detached from Python) for room in the window; false once cancelled.
    fn take_credit(&self) -> bool {
        let mut flow = self.flow();
        while !flow.room() && !flow.cancelled {
            flow = self.cv.wait(flow).unwrap_or_else(|p| p.into_inner());
        }
        if flow.cancelled {
            return false;
        }
        flow.credits -= 1;
        true
    }
}

impl crate::session::Stop for Shared {
    fn stop(&self) -> bool {
        self.cancel()
    }
}

impl output::Recipient for Shared {
    fn if_live(&self, send: &mut dyn FnMut() -> bool) -> bool {
        let flow = self.flow();
        !flow.cancelled && send()
    }
}

/// The job handle the caller holds; it watches the caller, whose death cancels the job.
pub struct StreamJob {
    shared: Arc<Shared>,
}

#[rustler::resource_impl]
impl rustler::Resource for StreamJob {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _mon: Monitor) {
        self.shared.cancel();
    }
}

struct Work {
    /// The session's own thread this producer runs on, if any: while it waits for the
    /// consumer it runs the session's other work (a callback may call into the session).
    lane: Option<&'static snakebridge_core::threads::Threads>,
    shared: Arc<Shared>,
    pid: LocalPid,
    /// Holds the tag, the module and function names and the arguments.
    env: OwnedEnv,
    tag: SavedTerm,
    request: SavedTerm,
    ctx: Arc<Ctx>,
    chunk: usize,
    window: usize,
}

impl Work {
    /// Room in the window; false once cancelled. On a lane, queued work of the session
    /// runs meanwhile (its generator is suspended, so this thread is free for Python).
    fn take_credit(&self, py: Python<'_>) -> bool {
        let shared: &Shared = &self.shared;
        let Some(lane) = self.lane else {
            return py.detach(|| shared.take_credit());
        };
        loop {
            if let Some(taken) = shared.try_credit() {
                return taken;
            }
            if lane.run_one(py) {
                continue;
            }
            py.detach(|| {
                let flow = shared.flow();
                if !flow.room() && !flow.cancelled {
                    let pause = Duration::from_millis(1);
                    drop(shared.cv.wait_timeout(flow, pause));
                }
            });
        }
    }
}

/// Sends one message unless the job was cancelled: checked under the flow lock, so a
/// caller that has cancelled never receives another message of this job.
fn send(work: &Work, msg_env: &mut OwnedEnv, msg: SavedTerm, bytes: usize) -> bool {
    let mut flow = work.shared.flow();
    if flow.cancelled {
        msg_env.clear();
        return false;
    }
    let sent = msg_env.send_and_clear(&work.pid, |e| msg.load(e)).is_ok();
    if sent && bytes > 0 {
        flow.in_flight += bytes;
        flow.sizes.push_back(bytes);
    }
    drop(flow);
    sent
}

/// `{tag, kind, payload}` built in the message env.
fn message<'a>(work: &Work, e: Env<'a>, kind: rustler::Atom, payload: Term<'a>) -> Term<'a> {
    let tag = work.env.run(|te| work.tag.load(te).in_env(e));
    (tag, kind, payload).encode(e)
}

/// Marks the job finished however `run` ends, and tells a caller that waits for it.
struct Finished<'w>(&'w Work);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        let work = self.0;
        let mut flow = work.shared.flow();
        flow.finished = true;
        if flow.notify {
            let mut env = OwnedEnv::new();
            let _ = env.send_and_clear(&work.pid, |e| {
                let tag = work.env.run(|te| work.tag.load(te).in_env(e));
                (tag, finished()).encode(e)
            });
        }
        drop(flow);
        work.shared.cv.notify_all();
    }
}

fn run(py: Python<'_>, work: Work) {
    let _finished = Finished(&work);
    let mut msg_env = OwnedEnv::new();
    // A panic must not end the job silently: the caller gets an error.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // What Python prints goes to the consumer, ahead of the chunks after it.
        let produced = work.env.run(|e| {
            let tag = work.tag.load(e);
            let shared: &Shared = &work.shared;
            output::scoped(&work.pid, e, tag, shared, || {
                produce(py, &work, &mut msg_env)
            })
            .0
        });
        snakebridge_core::fork::exit_if_child();
        produced
    }))
    .unwrap_or_else(|_| {
        Err(Failure::Error(Error::Internal(
            "the stream producer panicked".into(),
        )))
    });
    msg_env.clear();
    let reply = msg_env.run(|e| {
        let result = match outcome {
            Ok(()) => ok().encode(e),
            Err(Failure::Error(err)) => crate::error::error_tuple(e, &err),
            Err(Failure::Term(saved)) => {
                let reason = work.env.run(|oe| saved.load(oe).in_env(e));
                (crate::atoms::error(), reason).encode(e)
            }
        };
        msg_env.save(message(&work, e, done(), result))
    });
    let mut flow = work.shared.flow();
    if !flow.cancelled {
        // Under the flow lock: a cancel after this sees the stream answered.
        flow.answered = true;
        let _ = msg_env.send_and_clear(&work.pid, |e| reply.load(e));
    }
}

/// A batch converted for sending (with its bytes), and the error that cut it short.
type Converted = (Option<(SavedTerm, usize)>, Option<Error>);

enum Failure {
    Error(Error),
    /// An unconvertible argument, described in the work's env.
    Term(SavedTerm),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

fn produce(py: Python<'_>, work: &Work, msg_env: &mut OwnedEnv) -> Result<(), Failure> {
    let job = Job::current();
    let _ = work.shared.job.set(job.clone());
    if work.shared.flow().cancelled {
        return Err(Error::Cancelled.into());
    }
    // Call the function (converting the arguments first).
    let value = work.env.run(|e| -> Result<Py<PyAny>, Failure> {
        let (module, function, argv, kwargs): (Term, String, Term, Term) = work
            .request
            .load(e)
            .decode()
            .map_err(|_| Error::BadArg("request".into()))?;
        let shared = work.shared.clone();
        let give_up: convert::GiveUp = Box::new(move || shared.flow().cancelled);
        let converted = convert::call_args_to_py(py, argv, kwargs, Some(give_up));
        let (pargs, pkwargs) = match converted {
            Ok(pair) => pair,
            Err(err) => {
                return Err(match err.into_result(e) {
                    Ok(reason) => Failure::Term(work.env.save(reason)),
                    Err(err) => Failure::Error(err),
                })
            }
        };
        let value = job.guard(py, |py| {
            let func = call::getattr_path(call::target(py, module)?, &function)?;
            Ok(func.call(pargs, pkwargs.as_ref())?.unbind())
        })?;
        Ok(value)
    })?;
    let value = value.into_bound(py);
    // The items converted into one message, with its size in bytes. An item that cannot
    // be converted ends the batch: the items before it are still sent, then the error.
    let to_msg = |msg_env: &OwnedEnv, items: &[Bound<'_, PyAny>]| -> Converted {
        msg_env.run(|e| {
            // Large strings and bytes share Python's memory (nothing copied under the GIL).
            let enc = ToTerm::new(e, &work.ctx);
            let mut terms = Vec::with_capacity(items.len());
            let failed = enc.extend_terms(items, &mut terms).err().map(Error::from);
            let msg = (!terms.is_empty()).then(|| {
                // SAFETY: every term was made in `e`.
                let list = unsafe { Term::new(e, crate::enif::list(e, &terms)) };
                (msg_env.save(message(work, e, chunks(), list)), enc.bytes())
            });
            (msg, failed)
        })
    };
    // Iterate iterators, and collections through an iterator; anything else is one chunk.
    let (value, kind) = match snakebridge_core::iter::detect(&value) {
        Some(kind) => (value, Some(kind)),
        None => {
            let it = Helper::AsChunks.call1(py, (&value,)).map_err(Error::from)?;
            if it.is_none() {
                (value, None)
            } else {
                (it, Some(StreamType::Iterator))
            }
        }
    };
    let Some(kind) = kind else {
        // A plain value is one chunk.
        if work.take_credit(py) {
            let (msg, failed) = to_msg(msg_env, std::slice::from_ref(&value));
            if let Some((msg, bytes)) = msg {
                send(work, msg_env, msg, bytes);
            }
            if let Some(err) = failed {
                return Err(err.into());
            }
        }
        return Ok(());
    };
    let mut aloop = None;
    let result = iterate(py, work, &job, &value, kind, &mut aloop, msg_env, &to_msg);
    // Close the iterator (a generator's finally runs) unless it ran to its end; an async
    // generator's event loop is closed in any case.
    if aloop.is_some() || !matches!(result, Ok(true)) {
        let closed = match &aloop {
            Some(l) => Helper::Aclose.call1(py, (l, &value)),
            None => Helper::Close.call1(py, (&value,)),
        };
        if let Err(e) = closed {
            e.write_unraisable(py, None);
        }
    }
    result.map(|_| ()).map_err(Failure::from)
}

/// Pulls batches until the end (`Ok(true)`), an error or a cancel.
#[allow(clippy::too_many_arguments)]
fn iterate<'py, F>(
    py: Python<'py>,
    work: &Work,
    job: &Arc<Job>,
    value: &Bound<'py, PyAny>,
    kind: StreamType,
    aloop: &mut Option<Py<PyAny>>,
    msg_env: &mut OwnedEnv,
    to_msg: &F,
) -> Result<bool, Error>
where
    F: Fn(&OwnedEnv, &[Bound<'py, PyAny>]) -> Converted,
{
    let max_wait = Duration::from_millis(1);
    // A batch also ends at its share of the byte budget.
    let batch_bytes = (work.shared.flow().max_bytes / work.window).max(1);
    loop {
        if !work.take_credit(py) {
            return Err(Error::Cancelled);
        }
        let mut items = Vec::with_capacity(work.chunk.min(4096));
        let started = Instant::now();
        let mut ended = false;
        let mut size = 0usize;
        let pulled = job.guard(py, |py| {
            while items.len() < work.chunk && size < batch_bytes {
                match snakebridge_core::iter::next_raw(py, value, kind, aloop)? {
                    Some(item) => {
                        size = size.saturating_add(convert::approx_size(&item));
                        items.push(item)
                    }
                    None => {
                        ended = true;
                        break;
                    }
                }
                // A slow producer's items go out as they come.
                if started.elapsed() >= max_wait {
                    break;
                }
            }
            Ok(())
        });
        if !items.is_empty() {
            let (msg, failed) = to_msg(msg_env, &items);
            drop(items);
            if let Some((msg, bytes)) = msg {
                if !send(work, msg_env, msg, bytes) {
                    return Err(Error::Cancelled);
                }
            }
            if let Some(err) = failed {
                return Err(err);
            }
        }
        pulled?;
        if ended {
            return Ok(true);
        }
    }
}

/// Starts `module.function(*argv, **kwargs)` on a library thread; messages
/// `{tag, :chunks, [item]}` then `{tag, :done, :ok | {:error, reason}}` go to `pid`.
/// Dirty: the arguments are copied for the producer's thread, and they may be large.
pub fn start<'a>(
    env: Env<'a>,
    call: (Term<'a>, Term<'a>, Term<'a>, Term<'a>),
    ctx_term: Term<'a>,
    pid: LocalPid,
    tag: Term<'a>,
    opts: (usize, usize, usize),
) -> Term<'a> {
    let (window, chunk, max_bytes) = opts;
    let ctx: Ctx = match ctx_term.decode() {
        Ok(c) => c,
        Err(_) => return crate::error::error_tuple(env, &Error::BadArg("context".into())),
    };
    let shared = Arc::new(Shared {
        flow: Mutex::new(Flow {
            credits: window.max(1),
            max_bytes: max_bytes.max(1),
            ..Flow::default()
        }),
        cv: Condvar::new(),
        job: OnceLock::new(),
    });
    let res = ResourceArc::new(StreamJob {
        shared: shared.clone(),
    });
    env.monitor(&res, &pid);
    if let Some(session) = &ctx.session {
        // Closing the session stops the producer and ends the stream for the caller.
        let released = crate::error::error_tuple(env, &Error::Released);
        let work: std::sync::Weak<dyn crate::session::Stop> = Arc::downgrade(&shared) as _;
        session.track(env, work, pid, (tag, done(), released).encode(env));
    }
    let owned = OwnedEnv::new();
    let tag = owned.save(tag);
    let request = owned.save(call);
    let threads = match crate::session::route_id(
        Some(&ctx.session_id),
        &snakebridge_core::threads::STREAMS,
    ) {
        Ok(threads) => threads,
        Err(e) => return crate::error::error_tuple(env, &e),
    };
    let lane = (!std::ptr::eq(threads, &snakebridge_core::threads::STREAMS)).then_some(threads);
    let work = Work {
        lane,
        shared,
        pid,
        env: owned,
        tag,
        request,
        ctx: Arc::new(ctx),
        chunk: chunk.max(1),
        window: window.max(1),
    };
    threads.submit(Box::new(move |py| run(py, work)));
    call::ok_tuple(env, res.encode(env))
}

/// The caller took `n` batches: room for the producer.
pub fn ack(res: ResourceArc<StreamJob>, n: usize) -> bool {
    let mut flow = res.shared.flow();
    flow.credits += n;
    for _ in 0..n {
        let size = flow.sizes.pop_front().unwrap_or(0);
        flow.in_flight = flow.in_flight.saturating_sub(size);
    }
    drop(flow);
    res.shared.cv.notify_all();
    true
}

/// Stops the job: no message of it is sent after this returns. With `watch`, the caller
/// is sent `{tag, :finished}` once the producer has closed its iterator (`:finished` is
/// returned instead when that has happened already).
pub fn cancel(res: ResourceArc<StreamJob>, watch: bool) -> rustler::Atom {
    res.shared.cancel();
    let mut flow = res.shared.flow();
    if flow.finished {
        return finished();
    }
    flow.notify = watch;
    ok()
}
