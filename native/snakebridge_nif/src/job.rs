//! Handing work to a library thread and the answer back to the caller.
//!
//! The caller's NIF copies the request into an env of its own and queues it. When a
//! spinning thread takes it at once, the NIF watches for the answer for a few
//! microseconds (most calls are that short: no message, no process wake-up); otherwise,
//! or when the answer is large, the caller waits in `receive` for `{tag, result}`: a
//! timeout or the caller's death is ordinary BEAM logic, and no scheduler waits for
//! Python. The job handle then watches the caller; its death cancels the job (skipped if
//! still queued, interrupted if running). After `cancel` returns, no answer is sent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use rustler::env::SavedTerm;
use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv, ResourceArc, Term, TermType};

use crate::{awaitable, ops, output, session};
use snakebridge_core::interrupt::{self, Job};
use snakebridge_core::threads::{self, Threads};

#[derive(Default)]
struct State {
    cancelled: bool,
    finished: bool,
    running: Option<Arc<Job>>,
    /// The caller is still in its NIF, watching for the answer.
    inline: bool,
    /// The answer, left for the watching caller to copy.
    answer: Option<(OwnedEnv, SavedTerm)>,
    /// The future of an awaitable the call returned, running on the library's loop.
    awaiting: Option<Py<PyAny>>,
}

/// What the caller and the library thread share.
#[derive(Default)]
pub struct Ctl {
    state: Mutex<State>,
    /// Set when `answer` is there (read without the lock while watching).
    answered: AtomicBool,
}

/// How long a caller's NIF watches for a quick answer (tunable, 0: never).
static WATCH_US: AtomicU64 = AtomicU64::new(20);
/// How long a caller watches before it lets other threads have its core between looks.
const YIELD_AFTER: Duration = Duration::from_micros(5);

pub fn set_watch(us: u64) {
    WATCH_US.store(us, Ordering::Relaxed);
}

impl Ctl {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the job: it never starts, or its Python code is interrupted. True when it
    /// was still to answer (it never will now).
    pub fn cancel(&self) -> bool {
        let running = {
            let mut st = self.state();
            if st.cancelled || st.finished {
                return false;
            }
            st.cancelled = true;
            if let Some(future) = st.awaiting.take() {
                crate::awaitable::cancel_later(future);
            }
            st.running.clone()
        };
        if let Some(job) = running {
            interrupt::cancel(&job);
        }
        true
    }

    /// The call returned an awaitable, now running on the loop as `future`; the answer
    /// comes from the loop. Cancelled meanwhile: the task is cancelled at once.
    pub fn awaiting(&self, py: Python<'_>, future: Py<PyAny>) {
        let mut st = self.state();
        st.running = None;
        if st.cancelled {
            drop(st);
            if let Err(e) = future.bind(py).call_method0("cancel") {
                e.write_unraisable(py, None);
            }
        } else if !st.finished {
            st.awaiting = Some(future);
        }
    }

    /// Whether the caller is still in its NIF, watching for the answer (it may stop at
    /// any moment: `finish` decides under the lock).
    fn watching(&self) -> bool {
        self.state().inline
    }

    /// On the library thread: records the running job; false if cancelled while queued.
    pub fn start(&self, job: &Arc<Job>) -> bool {
        let mut st = self.state();
        if st.cancelled {
            st.finished = true;
            return false;
        }
        st.running = Some(job.clone());
        true
    }

    /// Leaves the answer for a watching caller (`small` ones only: the caller copies
    /// it on its scheduler), else sends it, unless the job was cancelled (checked under
    /// the lock, so a caller that cancelled never receives it).
    pub fn finish(&self, mut env: OwnedEnv, pid: &LocalPid, msg: SavedTerm, small: bool) {
        let mut st = self.state();
        st.finished = true;
        st.running = None;
        st.awaiting = None;
        if st.cancelled {
            env.clear();
        } else if st.inline && small {
            st.answer = Some((env, msg));
            self.answered.store(true, Ordering::Release);
            return;
        } else {
            let _ = env.send_and_clear(pid, |e| msg.load(e));
        }
        drop(st);
        give_env(env);
    }

    /// The caller's NIF: the answer if it comes within `WATCH_US`; else from now on it
    /// will come as a message.
    fn watch<'a>(&self, env: Env<'a>) -> Option<Term<'a>> {
        let limit = Duration::from_micros(WATCH_US.load(Ordering::Relaxed));
        let since = Instant::now();
        'watch: while !self.answered.load(Ordering::Acquire) {
            for _ in 0..32 {
                std::hint::spin_loop();
                if self.answered.load(Ordering::Acquire) {
                    break 'watch;
                }
            }
            let watched = since.elapsed();
            if watched >= limit {
                break;
            }
            // No answer yet after a quick call's time: the library thread may be waiting
            // for this very core (see Threads::spin), so let it run.
            if watched >= YIELD_AFTER && threads::gives_way() {
                std::thread::yield_now();
            }
        }
        let mut st = self.state();
        st.inline = false;
        let (owned, msg) = st.answer.take()?;
        drop(st);
        Some(copy_answer(env, owned, msg))
    }
}

impl session::Stop for Ctl {
    fn stop(&self) -> bool {
        self.cancel()
    }
}

impl output::Recipient for Ctl {
    fn if_live(&self, send: &mut dyn FnMut() -> bool) -> bool {
        let st = self.state();
        !st.cancelled && send()
    }
}

/// The handle the caller holds while it waits.
pub struct JobRes {
    pub ctl: Arc<Ctl>,
}

#[rustler::resource_impl]
impl rustler::Resource for JobRes {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _mon: Monitor) {
        self.ctl.cancel();
    }
}

/// Cleared envs kept for the next jobs (allocating and freeing one per call costs more
/// than the rest of a short call's hand-off).
static ENVS: Mutex<Vec<OwnedEnv>> = Mutex::new(Vec::new());
const KEPT_ENVS: usize = 64;

fn take_env() -> OwnedEnv {
    ENVS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop()
        .unwrap_or_default()
}

/// Gives back a cleared env.
fn give_env(env: OwnedEnv) {
    let mut envs = ENVS.lock().unwrap_or_else(|p| p.into_inner());
    if envs.len() < KEPT_ENVS {
        envs.push(env);
    }
}

/// The answer copied into the caller's env; its env is cleared and kept.
fn copy_answer<'a>(env: Env<'a>, mut owned: OwnedEnv, msg: SavedTerm) -> Term<'a> {
    let answer = owned.run(|e| msg.load(e).in_env(env));
    owned.clear();
    give_env(owned);
    answer
}

/// Terms up to this many cells are copied on a normal scheduler (a few µs at most).
const SMALL: isize = 2048;

/// Nesting deeper than this counts as large (the walk recurses on a scheduler's stack).
const SHALLOW: u32 = 64;

/// Whether copying `term` is cheap: walks at most `SMALL` cells, `SHALLOW` levels deep.
fn small(term: Term<'_>, budget: &mut isize) -> bool {
    small_at(term, budget, 0)
}

fn small_at(term: Term<'_>, budget: &mut isize, depth: u32) -> bool {
    *budget -= 1;
    if *budget < 0 || depth > SHALLOW {
        return false;
    }
    let small = |t, budget: &mut isize| small_at(t, budget, depth + 1);
    match term.get_type() {
        TermType::List => {
            // Cell by cell: an improper list is fine here (conversion reports it).
            let mut rest = term;
            while let Ok((head, tail)) = rest.list_get_cell() {
                if !small(head, budget) {
                    return false;
                }
                rest = tail;
            }
            // The tail of a proper list is [] (a list too: not walked again).
            rest.get_type() == TermType::List || small(rest, budget)
        }
        TermType::Tuple => match rustler::types::tuple::get_tuple(term) {
            Ok(items) => items.into_iter().all(|t| small(t, budget)),
            Err(_) => false,
        },
        // A request's context (three short fields) is small without a walk: iterating a
        // map allocates, and every call carries one.
        TermType::Map if is_context(term) => true,
        TermType::Map => match rustler::types::map::MapIterator::new(term) {
            Some(iter) => {
                for (k, v) in iter {
                    if !small(k, budget) || !small(v, budget) {
                        return false;
                    }
                }
                true
            }
            None => false,
        },
        _ => true,
    }
}

/// Whether `term` is a `%SnakeBridge.Context{}` (a lookup in the map, no allocation).
fn is_context(term: Term<'_>) -> bool {
    let env = term.get_env();
    term.map_get(crate::atoms::__struct__().encode(env))
        .is_ok_and(|m| m == crate::atoms::sb_context().encode(env))
}

/// Queues `request` (an `ops::Request`) on `threads` for the calling process; the answer
/// arrives as `{tag, result}`.
pub fn queue<'a>(
    env: Env<'a>,
    (threads, session): (&'static Threads, Option<Arc<session::Session>>),
    tag: Term<'a>,
    request: Term<'a>,
    timeout_ms: Option<u64>,
    watch: bool,
) -> Term<'a> {
    let deadline = timeout_ms.and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms)));
    let watch = watch && WATCH_US.load(Ordering::Relaxed) > 0;
    let ctl = Arc::new(Ctl::default());
    ctl.state().inline = watch;
    let pid = env.pid();
    if let Some(session) = session {
        // Closing the session stops the job and answers for it.
        let released = (
            tag,
            crate::error::error_tuple(env, &crate::error::Error::Released),
        );
        let work: std::sync::Weak<dyn session::Stop> = Arc::downgrade(&ctl) as _;
        session.track(env, work, pid, released.encode(env));
    }
    let owned = take_env();
    let request = owned.save((tag, request));
    let worker_ctl = ctl.clone();
    let taken_now = threads.submit(Box::new(move |py: Python<'_>| {
        let ctl = worker_ctl;
        let job = Job::current();
        if !ctl.start(&job) {
            return;
        }
        let (msg, small_answer) = owned.run(|e| {
            let (tag, request): (Term, Term) = request.load(e).decode().expect("saved as a pair");
            let (result, printed) = output::scoped(&pid, e, tag, &*ctl, || {
                ops::dispatch(py, e, request, &job, deadline)
            });
            // Python forked and this is the child: it must not answer (or go on).
            snakebridge_core::fork::exit_if_child();
            let mut budget = SMALL;
            // After output the answer comes as a message too, behind it. A caller that
            // stopped watching gets a message anyway: no walk of the answer then.
            let small_answer = !printed && ctl.watching() && small(result, &mut budget);
            (owned.save((tag, result).encode(e)), small_answer)
        });
        if let Some(aw) = awaitable::take_parked() {
            // The call returned an awaitable: the loop answers when it is done.
            awaitable::submit(py, aw, ctl, pid, owned, request, deadline);
            return;
        }
        ctl.finish(owned, &pid, msg, small_answer);
    }));
    if taken_now && watch {
        if let Some(answer) = ctl.watch(env) {
            return answer;
        }
    } else if watch {
        ctl.state().inline = false;
        let answer = ctl.state().answer.take();
        if let Some((owned, msg)) = answer {
            // Answered already (a thread was free and the call was quick).
            return copy_answer(env, owned, msg);
        }
    }
    let res = ResourceArc::new(JobRes { ctl });
    env.monitor(&res, &pid);
    res.encode(env)
}

/// Queues a request on the threads its route names; returns the job, or `{:error,
/// reason}` (a released session). With `watch`, a quick answer may come back at once
/// instead; without, the answer always comes as a message (the caller has other work).
pub fn submit<'a>(
    env: Env<'a>,
    tag: Term<'a>,
    request: Term<'a>,
    (route, watch): (Term<'a>, bool),
    timeout_ms: Option<u64>,
) -> Term<'a> {
    // Before the application started Python, a queued job would wait for ever.
    if !snakebridge_core::interpreter::is_ready() {
        return crate::error::error_tuple(env, &crate::error::Error::NotStarted);
    }
    match session::route_session(route) {
        Ok(route) => queue(env, route, tag, request, timeout_ms, watch),
        Err(e) => crate::error::error_tuple(env, &e),
    }
}

/// `[{name, max, threads, busy, queued, done}]`: what the library's threads are doing now.
pub fn thread_stats(env: Env<'_>) -> Term<'_> {
    let mut rows = vec![];
    let named: [(&str, &Threads); 3] = [
        ("calls", &threads::CALLS),
        ("streams", &threads::STREAMS),
        ("cleanup", &snakebridge_core::janitor::CLEANUP),
    ];
    for (name, p) in named {
        let s = p.stats();
        rows.push((name, s.max, s.threads, s.busy, s.queued, s.done).encode(env));
    }
    let lanes = threads::LANE.iter().map(|p| p.stats());
    let (mut threads, mut busy, mut queued, mut done) = (0, 0, 0, 0);
    for s in lanes {
        threads += s.threads;
        busy += s.busy;
        queued += s.queued;
        done += s.done;
    }
    rows.push(("lanes", threads::LANES, threads, busy, queued, done).encode(env));
    rows.encode(env)
}

/// Sets the thread limits and the threads' spin, watch and idle times.
pub fn configure_threads(
    calls: usize,
    streams: usize,
    (spin_us, watch_us, give_way): (u64, u64, bool),
    idle_ms: u64,
) -> bool {
    threads::CALLS.set_max(calls);
    threads::STREAMS.set_max(streams);
    threads::configure(spin_us, idle_ms, give_way);
    set_watch(watch_us);
    true
}

/// Whether `request` is small enough to copy on a normal scheduler (a few µs).
pub fn is_small(request: Term<'_>) -> bool {
    let mut budget = SMALL;
    small(request, &mut budget)
}

/// Stops a job (the caller timed out); no answer of it is sent after this returns.
pub fn cancel(res: ResourceArc<JobRes>) -> bool {
    res.ctl.cancel();
    true
}
