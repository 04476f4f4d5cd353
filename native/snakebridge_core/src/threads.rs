//! Threads the library owns, and the only threads that run user Python code.
//!
//! A `Threads` is a queue and up to `max` threads, started when work arrives and ended after
//! `idle` without work. After a task one idle thread spins briefly before it parks, so
//! back-to-back calls find it awake (waking a parked thread costs 5-45 µs here, more than
//! a whole call). A lane is a `Threads` of one thread that never ends: work of a thread-affine
//! session. Each thread keeps its Python thread state and runs every task inside one
//! Python frame (`interpreter::in_frame`), so callees always have a caller frame.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::interpreter;

/// Work for a library thread, run attached to Python.
pub type Task = Box<dyn for<'py> FnOnce(Python<'py>) + Send>;

/// Stack of every library thread: deep Python code recurses through C (json, repr, deepcopy).
pub const STACK_SIZE: usize = crate::bigstack::STACK_SIZE;

#[derive(Default)]
struct State {
    queue: VecDeque<Task>,
    threads: usize,
    parked: usize,
    busy: usize,
}

pub struct Threads {
    name: &'static str,
    max: AtomicUsize,
    /// A lane's thread never ends (a session's objects are bound to it).
    lane: bool,
    /// Whether an idle thread spins for the next task (latency matters).
    spins: bool,
    state: Mutex<State>,
    cv: Condvar,
    /// The queue's length, read by the spinning thread without the lock.
    queued: AtomicUsize,
    spinning: AtomicBool,
    /// Spins in a row that ended without work: each halves the next spin (see `spin`).
    missed: AtomicU32,
    /// Tasks ever run (observability).
    done: AtomicU64,
    /// When a task of these threads last ended (ns since `EPOCH`).
    last_end: AtomicU64,
    /// When the task the spinner is about to take was queued (ns since `EPOCH`, 0: none).
    handed_at: AtomicU64,
    /// Until when idle threads park at once (ns since `EPOCH`): see `CONTENDED_AFTER_NS`.
    contended_until: AtomicU64,
}

/// The origin of the times `Threads` keeps as ns (`last_end`, `handed_at`, ...).
static EPOCH: once_cell::sync::Lazy<Instant> = once_cell::sync::Lazy::new(Instant::now);

fn since_epoch() -> u64 {
    u64::try_from(EPOCH.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// How long an idle thread spins, and how long it lives without work (tunable).
static SPIN_US: AtomicU64 = AtomicU64::new(100);
static IDLE_MS: AtomicU64 = AtomicU64::new(10_000);

/// Whether spinning and watching threads give their core away between looks (see
/// `spin`): on for pool workers, off by default.
static GIVE_WAY: AtomicBool = AtomicBool::new(false);

pub fn gives_way() -> bool {
    GIVE_WAY.load(Ordering::Relaxed)
}

pub fn configure(spin_us: u64, idle_ms: u64, give_way: bool) {
    GIVE_WAY.store(give_way, Ordering::Relaxed);
    SPIN_US.store(spin_us, Ordering::Relaxed);
    IDLE_MS.store(idle_ms.max(1), Ordering::Relaxed);
}

/// What `SnakeBridge.Native.thread_stats/0` reports of a `Threads`.
pub struct Stats {
    pub max: usize,
    pub threads: usize,
    pub busy: usize,
    pub queued: usize,
    pub done: u64,
}

impl Threads {
    pub const fn new(name: &'static str, max: usize, lane: bool) -> Self {
        Threads {
            name,
            max: AtomicUsize::new(max),
            lane,
            spins: true,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                parked: 0,
                busy: 0,
            }),
            cv: Condvar::new(),
            queued: AtomicUsize::new(0),
            spinning: AtomicBool::new(false),
            missed: AtomicU32::new(0),
            done: AtomicU64::new(0),
            last_end: AtomicU64::new(0),
            handed_at: AtomicU64::new(0),
            contended_until: AtomicU64::new(0),
        }
    }

    /// The same threads, whose idle threads park at once.
    pub const fn without_spin(mut self) -> Self {
        self.spins = false;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_max(&self, max: usize) {
        if !self.lane {
            self.max.store(max.max(1), Ordering::Relaxed);
            // Threads over the new limit end as soon as they are idle.
            self.cv.notify_all();
        }
    }

    pub fn stats(&self) -> Stats {
        let st = self.state();
        Stats {
            max: self.max.load(Ordering::Relaxed),
            threads: st.threads,
            busy: st.busy,
            queued: st.queue.len(),
            done: self.done.load(Ordering::Relaxed),
        }
    }

    /// Queues `task`; a thread takes it as soon as one is free (never an error: when
    /// every thread is busy, tasks wait in order). True when a spinning thread is about
    /// to take it (the answer may come within microseconds).
    pub fn submit(&'static self, task: Task) -> bool {
        let mut st = self.state();
        st.queue.push_back(task);
        self.queued.store(st.queue.len(), Ordering::SeqCst);
        let spinning = self.spinning.load(Ordering::SeqCst);
        if spinning && st.queue.len() == 1 {
            // The spinner takes it (it re-checks under the lock before parking).
            self.handed_at.store(since_epoch(), Ordering::Relaxed);
            return true;
        }
        let takers = st.parked + usize::from(spinning);
        let spawn = st.queue.len() > takers && st.threads < self.max.load(Ordering::Relaxed);
        if spawn {
            st.threads += 1;
        }
        let wake = st.parked > 0;
        drop(st);
        if wake {
            self.cv.notify_one();
        }
        if spawn {
            self.spawn();
        }
        false
    }

    fn spawn(&'static self) {
        let spawned = std::thread::Builder::new()
            .name(self.name.into())
            .stack_size(STACK_SIZE)
            .spawn(move || self.thread_main());
        if spawned.is_err() {
            // No thread now (process limits): the queued task waits for a running one,
            // or for the next submit to try again.
            self.state().threads -= 1;
        }
    }

    fn thread_main(&'static self) {
        crate::bigstack::on_own_stack();
        CURRENT.with(|c| c.set(Some(self)));
        let ended = std::sync::Arc::new(AtomicBool::new(false));
        let ended_in_loop = ended.clone();
        let _ = interpreter::attach(|py| {
            interpreter::in_frame(py, move |py| {
                // Queued work is taken without giving the GIL back in between (no GIL
                // hand-off between these threads per job); only an empty queue
                // detaches to wait.
                while let Some(task) = self.try_take().or_else(|| py.detach(|| self.take())) {
                    self.run_task(py, task);
                }
                ended_in_loop.store(true, Ordering::Release);
            })
        });
        if !ended.load(Ordering::Acquire) {
            // Python refused the thread (not started): its count must not stay taken.
            self.state().threads -= 1;
        }
        interpreter::forget_thread_state();
    }

    /// Whether this is a lane (one thread of thread-affine sessions).
    pub fn is_lane(&self) -> bool {
        self.lane
    }

    /// The `Threads` this thread is one of (`None` on other threads).
    pub fn current() -> Option<&'static Threads> {
        CURRENT.with(|c| c.get())
    }

    /// Runs one queued task on this (one of its own, busy) thread, if one waits.
    pub fn run_one(&self, py: Python<'_>) -> bool {
        let Some(task) = self.try_take() else {
            return false;
        };
        self.run_task(py, task);
        true
    }

    /// Runs a task taken from the queue (counted busy by `pop`).
    fn run_task(&self, py: Python<'_>, task: Task) {
        // A panicking task must not end the thread with work queued.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(py)));
        // Python forked and this is the child: it must not go on with BEAM work.
        crate::fork::exit_if_child();
        self.done.fetch_add(1, Ordering::Relaxed);
        self.last_end.store(since_epoch(), Ordering::Relaxed);
        self.state().busy -= 1;
    }

    /// A queued task, without waiting.
    fn try_take(&self) -> Option<Task> {
        if self.queued.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut st = self.state();
        if !self.lane && st.threads > self.max.load(Ordering::Relaxed) {
            return None;
        }
        self.pop(&mut st)
    }

    fn pop(&self, st: &mut State) -> Option<Task> {
        let task = st.queue.pop_front();
        self.queued.store(st.queue.len(), Ordering::SeqCst);
        if task.is_some() {
            st.busy += 1;
        }
        task
    }

    /// The next task; `None` when this thread has been idle long enough to end.
    fn take(&self) -> Option<Task> {
        if self.over_limit() {
            return None;
        }
        if let Some(task) = self.spin() {
            return Some(task);
        }
        let idle = Duration::from_millis(IDLE_MS.load(Ordering::Relaxed));
        let since = Instant::now();
        let mut st = self.state();
        loop {
            // Over a lowered limit: end before taking more work (and pass on a wake-up
            // meant for a thread that stays).
            if !self.lane && st.threads > self.max.load(Ordering::Relaxed) {
                st.threads -= 1;
                if !st.queue.is_empty() {
                    self.cv.notify_one();
                }
                return None;
            }
            if let Some(task) = self.pop(&mut st) {
                return Some(task);
            }
            let left = idle.saturating_sub(since.elapsed());
            if left.is_zero() && !self.lane {
                st.threads -= 1;
                return None;
            }
            st.parked += 1;
            st = if self.lane {
                self.cv.wait(st).unwrap_or_else(|p| p.into_inner())
            } else {
                self.cv
                    .wait_timeout(st, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            };
            st.parked -= 1;
            if !st.queue.is_empty() {
                self.woke_soon();
            }
        }
    }

    /// Ends this thread's count when there are more threads than its (lowered) limit.
    fn over_limit(&self) -> bool {
        let mut st = self.state();
        let over = !self.lane && st.threads > self.max.load(Ordering::Relaxed);
        if over {
            st.threads -= 1;
        }
        over
    }

    /// Spins for new work when no other of these threads does. Adaptive: a spin that
    /// ends without work halves the next one (down to nothing after `MAX_MISSES` in a
    /// row), and one that finds work restores the whole `spin_us`, so a thread burns CPU
    /// only while spinning pays. No spin while the cores were found busy (see
    /// `CONTENDED_AFTER_NS`); on pool workers a long spin gives its core away between
    /// looks (`gives_way`). (Yielding on every node was tried: with 4 busy OS processes
    /// on 2 cores calls were slower in bench/busy.exs, and batches lost slices.)
    fn spin(&self) -> Option<Task> {
        let full = SPIN_US.load(Ordering::Relaxed);
        let missed = self.missed.load(Ordering::Relaxed);
        let spin = Duration::from_micros(if missed >= MAX_MISSES {
            0
        } else {
            full >> missed
        });
        if spin.is_zero()
            || !self.spins
            || since_epoch() < self.contended_until.load(Ordering::Relaxed)
            || self
                .spinning
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return None;
        }
        let since = Instant::now();
        let mut found = None;
        'spin: loop {
            for _ in 0..64 {
                if self.queued.load(Ordering::SeqCst) > 0 {
                    if let Some(task) = self.pop(&mut self.state()) {
                        found = Some(task);
                        break 'spin;
                    }
                }
                std::hint::spin_loop();
            }
            let spun = since.elapsed();
            if spun >= spin {
                break;
            }
            // With `give_way` (pool workers), past the first YIELD_AFTER a thread that
            // wants this core gets it now, not at the end of the spin: the kernel's
            // scheduler (EEVDF) lets a running thread finish its slice before a woken
            // one, and on a worker the woken one is often the thread that will send the
            // next task (its scheduler, its network). Off elsewhere: on the node that
            // calls, the thread given the core was as often a BEAM scheduler spinning
            // idle, and batches lost whole slices. With no other thread runnable here
            // this returns at once.
            if spun >= YIELD_AFTER && gives_way() {
                std::thread::yield_now();
            }
        }
        self.spinning.store(false, Ordering::SeqCst);
        let handed = self.handed_at.swap(0, Ordering::Relaxed);
        let now = since_epoch();
        if found.is_some() && handed != 0 && now.saturating_sub(handed) > CONTENDED_AFTER_NS {
            // The task waited for this spinner to get a core back: the cores are busy,
            // so for a while threads park and callers are woken, which costs less here.
            self.contended_until
                .store(now.saturating_add(CONTENDED_NS), Ordering::Relaxed);
        }
        if found.is_some() {
            self.missed.store(0, Ordering::Relaxed);
        } else {
            self.missed
                .store((missed + 1).min(MAX_MISSES), Ordering::Relaxed);
        }
        found
    }

    /// A task arrived soon after the last one ended: spinning would have caught it, so
    /// the next spin is whole again. (Measured from the last task of any of these
    /// threads, not from when this one parked: a condvar wakes the longest-parked
    /// thread, so with several threads the woken one has always parked long ago.)
    fn woke_soon(&self) {
        let idle_ns = since_epoch().saturating_sub(self.last_end.load(Ordering::Relaxed));
        if idle_ns < SPIN_US.load(Ordering::Relaxed).saturating_mul(1000) {
            self.missed.store(0, Ordering::Relaxed);
        }
    }
}

/// A task handed to the spinner that waited this long for it means the spinner had lost
/// its core (busy cores): then threads park without spinning for `CONTENDED_NS`. With 4
/// busy processes on the 2 cores here, a call cost 10-65 µs with spinning and 12-31 µs
/// without (bench/busy.exs); on idle cores a spinner takes a task within a few µs.
const CONTENDED_AFTER_NS: u64 = 250_000;
const CONTENDED_NS: u64 = 20_000_000;

/// How long a spin runs before it lets other threads have its core between looks.
const YIELD_AFTER: Duration = Duration::from_micros(30);

/// Spins in a row without work after which an idle thread parks at once (until a task
/// comes soon after the last one ended).
const MAX_MISSES: u32 = 4;

thread_local! {
    /// The `Threads` of this thread, if it is a library thread.
    static CURRENT: std::cell::Cell<Option<&'static Threads>> = const { std::cell::Cell::new(None) };
}

/// Calls, methods, attributes and `stream_next` outside thread-affine sessions.
pub static CALLS: Threads = Threads::new("snakebridge-call", 8, false);
/// Producers of `SnakeBridge.stream/5` (each holds its thread while its consumer works).
pub static STREAMS: Threads = Threads::new("snakebridge-stream", 32, false);

/// Lanes for thread-affine sessions: a fixed number, each one thread; sessions share them.
pub const LANES: usize = 4;
pub static LANE: [Threads; LANES] = [
    Threads::new("snakebridge-lane", 1, true),
    Threads::new("snakebridge-lane", 1, true),
    Threads::new("snakebridge-lane", 1, true),
    Threads::new("snakebridge-lane", 1, true),
];
