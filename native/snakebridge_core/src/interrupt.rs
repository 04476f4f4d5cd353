//! Stopping running Python code: an exception raised in the job's thread at its next
//! bytecode boundary (`PyThreadState_SetAsyncExc`), by one thread that keeps the deadlines.
//!
//! The exception goes to a thread, not to a job, so it is raised only while the job is
//! *armed*: its own Python code runs on the thread now. A job whose thread runs another
//! job meanwhile (a nested job taken while it waits for an Elixir callback) or waits
//! outside Python is disarmed (`Suspended`); a stop then only marks it, and it sees the
//! mark when it resumes. Arming and disarming happen attached, and firing too, so the
//! two cannot interleave.

use crate::shim::Helper;
use std::collections::BTreeMap;
use std::os::raw::{c_long, c_ulong};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::error::Error;
use crate::interpreter;

const NONE: u8 = 0;
const TIMEOUT: u8 = 1;
const CANCEL: u8 = 2;

/// One interruptible job. `armed` and `reason` change only while attached, so firing and
/// finishing cannot interleave.
pub struct Job {
    tid: c_ulong,
    armed: AtomicBool,
    reason: AtomicU8,
}

impl Job {
    pub fn current() -> Arc<Job> {
        Arc::new(Job {
            // SAFETY: no preconditions (it reads the calling thread's id).
            tid: unsafe { ffi::PyThread_get_thread_ident() },
            armed: AtomicBool::new(false),
            reason: AtomicU8::new(NONE),
        })
    }

    pub fn stopped(&self) -> Option<Error> {
        match self.reason.load(Ordering::Acquire) {
            NONE => None,
            TIMEOUT => Some(Error::Timeout),
            _ => Some(Error::Cancelled),
        }
    }

    /// Runs `f` so that a timeout or cancel can stop it. Must be called on the job's
    /// thread. A job already running on this thread (whose wait ran this one) is
    /// disarmed meanwhile: a stop meant for it must not land in this one.
    pub fn guard<'py, R>(
        self: &Arc<Self>,
        py: Python<'py>,
        f: impl FnOnce(Python<'py>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        if let Some(e) = self.stopped() {
            return Err(e);
        }
        let outer = current();
        if outer.as_ref().is_some_and(|o| Arc::ptr_eq(o, self)) {
            // Already guarded on this thread: the outer guard arms and disarms.
            return f(py);
        }
        let suspended = outer.map(|o| Suspended::new(o, py));
        ACTIVE.with(|a| a.borrow_mut().push(self.clone()));
        let armed = Armed::arm(self, py);
        let result = f(py);
        drop(armed);
        ACTIVE.with(|a| a.borrow_mut().pop());
        drop(suspended);
        match self.stopped() {
            Some(e) => Err(e),
            None => result,
        }
    }

    /// Stops the job: true when its Python code runs now and was interrupted (then the
    /// interrupt is raised again until the job has really stopped).
    fn fire(&self, py: Python<'_>, reason: u8) -> bool {
        if self.reason.load(Ordering::Acquire) != NONE {
            return false;
        }
        self.reason.store(reason, Ordering::Release);
        self.raise(py)
    }

    /// Raises the interrupt in the job's thread while the job runs its Python code.
    /// Called attached: the job cannot disarm meanwhile (it needs the GIL to leave).
    fn raise(&self, py: Python<'_>) -> bool {
        if !self.armed.load(Ordering::Acquire) {
            return false;
        }
        let Some(exc) = interpreter::interrupt_type(py) else {
            return false;
        };
        // A stop inside an import would leave the package half made for the life of the
        // interpreter (its submodules in sys.modules, itself not): it lands when the
        // import is done (this is tried again every AGAIN).
        if Helper::Importing
            .call1(py, (self.tid,))
            .is_ok_and(|r| r.is_truthy().unwrap_or(false))
        {
            return true;
        }
        // SAFETY: attached (holding the GIL); `tid` is the job's thread's
        // PyThread_get_thread_ident, and the exception is a live type object. The result
        // is the number of thread states changed: 0 when the thread has none now.
        let changed = unsafe { ffi::PyThreadState_SetAsyncExc(self.tid as c_long, exc.as_ptr()) };
        changed > 0
    }
}

/// Disarms the job when `f` returns or unwinds; if the job was stopped, an exception
/// that was set but not raised yet is consumed, so it never hits the next job.
struct Armed<'j, 'py> {
    job: &'j Job,
    py: Python<'py>,
}

impl<'j, 'py> Armed<'j, 'py> {
    fn arm(job: &'j Job, py: Python<'py>) -> Self {
        job.armed.store(true, Ordering::Release);
        Armed { job, py }
    }
}

impl Drop for Armed<'_, '_> {
    fn drop(&mut self) {
        self.job.armed.store(false, Ordering::Release);
        if self.job.stopped().is_some() {
            // Consuming the exception (rather than clearing it with NULL) also resets
            // the interpreter's "async exception pending" flag, which would otherwise
            // slow every later bytecode.
            let drained = Helper::Drain.call0(self.py);
            drop(drained);
        }
    }
}

thread_local! {
    /// The jobs guarded on this thread, innermost last.
    static ACTIVE: std::cell::RefCell<Vec<Arc<Job>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The job whose guard this thread is innermost in, if any.
pub fn current() -> Option<Arc<Job>> {
    ACTIVE.with(|a| a.borrow().last().cloned())
}

/// The job is not running its own Python code while this lives (its thread waits for an
/// Elixir callback, or runs another job): a stop only marks it. Made and dropped
/// attached, on the job's thread. On drop the job is armed again, and if it was stopped
/// meanwhile its interrupt is raised again soon (the waiter also returns the stop).
pub struct Suspended<'py> {
    job: Option<Arc<Job>>,
    _py: Python<'py>,
}

impl<'py> Suspended<'py> {
    pub fn new(job: Arc<Job>, py: Python<'py>) -> Self {
        // A job disarmed already (an outer wait suspended it) stays as it is.
        let was_armed = job.armed.swap(false, Ordering::AcqRel);
        if was_armed && job.stopped().is_some() {
            // Its interrupt may be set on this thread and not raised yet: consume it, so
            // it cannot hit what runs meanwhile (it is raised again on resume).
            drop(Helper::Drain.call0(py));
        }
        Suspended {
            job: was_armed.then_some(job),
            _py: py,
        }
    }

    /// Suspends the job this thread runs now, if any.
    pub fn current(py: Python<'py>) -> Self {
        match current() {
            Some(job) => Suspended::new(job, py),
            None => Suspended { job: None, _py: py },
        }
    }
}

impl Drop for Suspended<'_> {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            job.armed.store(true, Ordering::Release);
            if job.stopped().is_some() {
                // Stopped while disarmed: nothing was raised; raise it now it runs.
                plan().again.push((Instant::now() + AGAIN, job));
                PLAN.1.notify_one();
            }
        }
    }
}

/// Removes a deadline when the job ends, however it ends.
struct Scheduled(Option<Key>);

impl Drop for Scheduled {
    fn drop(&mut self) {
        if let Some(key) = self.0.take() {
            unschedule(key);
        }
    }
}

/// Runs `f` with a deadline, when there is one.
pub fn run<'py, R>(
    py: Python<'py>,
    timeout: Option<Duration>,
    f: impl FnOnce(Python<'py>) -> Result<R, Error>,
) -> Result<R, Error> {
    let Some(timeout) = timeout else {
        return f(py);
    };
    // A deadline too far away to represent is no deadline.
    run_job(py, &Job::current(), Instant::now().checked_add(timeout), f)
}

/// Runs `f` as `job` (which a cancel can stop), until `deadline` when there is one.
/// Must be called on the job's thread.
pub fn run_job<'py, R>(
    py: Python<'py>,
    job: &Arc<Job>,
    deadline: Option<Instant>,
    f: impl FnOnce(Python<'py>) -> Result<R, Error>,
) -> Result<R, Error> {
    let _scheduled = Scheduled(deadline.map(|at| schedule(job, at)));
    job.guard(py, f)
}

type Key = (Instant, u64);

#[derive(Default)]
struct Plan {
    deadlines: BTreeMap<Key, Arc<Job>>,
    now: Vec<Arc<Job>>,
    /// Stopped jobs still running: their interrupt is raised again at these times (code
    /// that swallows one, in `except BaseException` or a `__del__`, meets the next).
    again: Vec<(Instant, Arc<Job>)>,
}

/// How often an interrupt is raised again while the stopped job still runs.
const AGAIN: Duration = Duration::from_millis(10);

static PLAN: Lazy<(Mutex<Plan>, Condvar)> = Lazy::new(Default::default);
static SEQ: AtomicU64 = AtomicU64::new(0);

fn plan() -> std::sync::MutexGuard<'static, Plan> {
    PLAN.0.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn schedule(job: &Arc<Job>, at: Instant) -> Key {
    let key = (at, SEQ.fetch_add(1, Ordering::Relaxed));
    let mut plan = plan();
    let earliest = plan.deadlines.keys().next().is_none_or(|k| key < *k);
    plan.deadlines.insert(key, job.clone());
    drop(plan);
    // Wake the thread only when its next wake-up moves earlier.
    if earliest {
        PLAN.1.notify_one();
    }
    key
}

pub fn unschedule(key: Key) {
    plan().deadlines.remove(&key);
}

/// Stops the job as soon as possible (a cancel from a resource callback, which cannot
/// take the GIL itself).
pub fn cancel(job: &Arc<Job>) {
    plan().now.push(job.clone());
    PLAN.1.notify_one();
}

pub(crate) fn start() {
    std::thread::Builder::new()
        .name("snakebridge-interrupt".into())
        .stack_size(crate::bigstack::STACK_SIZE)
        .spawn(watch)
        .expect("spawn the interrupt thread");
}

fn watch() {
    let mut plan = plan();
    loop {
        let now = Instant::now();
        let mut fire: Vec<(Arc<Job>, u8)> = plan.now.drain(..).map(|j| (j, CANCEL)).collect();
        while let Some(entry) = plan.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            fire.push((entry.remove(), TIMEOUT));
        }
        let (due, later): (Vec<_>, Vec<_>) = plan.again.drain(..).partition(|(at, _)| *at <= now);
        plan.again = later;
        if !fire.is_empty() || !due.is_empty() {
            drop(plan);
            let mut still_running = Vec::new();
            let _ = interpreter::attach(|py| {
                for (job, reason) in &fire {
                    if job.fire(py, *reason) {
                        still_running.push(job.clone());
                    }
                }
                for (_, job) in &due {
                    if job.raise(py) {
                        still_running.push(job.clone());
                    }
                }
            });
            plan = self::plan();
            let at = Instant::now() + AGAIN;
            plan.again
                .extend(still_running.into_iter().map(|job| (at, job)));
            continue;
        }
        let next = plan
            .deadlines
            .keys()
            .next()
            .map(|(at, _)| *at)
            .into_iter()
            .chain(plan.again.iter().map(|(at, _)| *at))
            .min();
        plan = match next {
            Some(at) => {
                let wait = at.saturating_duration_since(now) + Duration::from_micros(50);
                PLAN.1
                    .wait_timeout(plan, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => PLAN.1.wait(plan).unwrap_or_else(|p| p.into_inner()),
        };
    }
}
