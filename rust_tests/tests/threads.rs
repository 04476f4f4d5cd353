//! The library's threads: a `Threads` runs its tasks on threads of its own, in order, with
//! at most `max` threads; idle threads end after `idle_ms`; a lane is one thread for good.
//!
//! Each test has a pool of its own (a static: `submit` needs `&'static Threads`). Tasks that
//! wait do so detached, on channels; the tests wait on channels too, each wait bounded by
//! `LONG` so a failure ends the test instead of hanging it.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use snakebridge_core::interpreter;
use snakebridge_core::janitor;
use snakebridge_core::threads::{self, Task, Threads};

/// How long an idle thread lives in this test binary (`threads::configure`).
const IDLE: Duration = Duration::from_millis(300);
/// The bound of every wait for something that should happen at once.
const LONG: Duration = Duration::from_secs(60);

fn setup() {
    rust_tests::start();
    // The same values in every test of this binary (a process-wide setting).
    threads::configure(100, IDLE.as_millis() as u64, false);
}

/// A task that says it started (with its thread), then holds its thread until `open`
/// gets a message (waiting detached).
fn blocker(started: Sender<ThreadId>, open: Receiver<()>) -> Task {
    Box::new(move |py| {
        started.send(std::thread::current().id()).unwrap();
        py.detach(move || open.recv_timeout(LONG).expect("the blocker opened"));
    })
}

/// Sends this thread's id and the time when the thread ends (a thread-local's destructor).
struct OnExit(Sender<(ThreadId, Instant)>, ThreadId);

impl Drop for OnExit {
    fn drop(&mut self) {
        let _ = self.0.send((self.1, Instant::now()));
    }
}

thread_local! {
    static ON_EXIT: RefCell<Option<OnExit>> = const { RefCell::new(None) };
}

/// `tx` gets a message when the current thread ends.
fn tell_on_exit(tx: Sender<(ThreadId, Instant)>) {
    let me = std::thread::current().id();
    ON_EXIT.with(|g| *g.borrow_mut() = Some(OnExit(tx, me)));
}

#[test]
fn tasks_run_attached_on_the_pools_own_threads() {
    setup();
    static P: Threads = Threads::new("rt-pool-own", 2, false);
    assert!(
        Threads::current().is_none(),
        "the test thread is no pool thread"
    );
    let (tx, rx) = channel();
    P.submit(Box::new(move |py| {
        let name = std::thread::current().name().map(String::from);
        let mine = Threads::current().is_some_and(|p| std::ptr::eq(p, &P));
        let sum: i64 = py
            .eval(c"sum(range(10))", None, None)
            .unwrap()
            .extract()
            .unwrap();
        // Every task runs inside the shim's frame: it has a caller.
        let caller = py.eval(c"__import__('sys')._getframe(1) is not None", None, None);
        let caller: bool = caller.unwrap().extract().unwrap();
        tx.send((std::thread::current().id(), name, mine, sum, caller))
            .unwrap();
    }));
    let (id, name, mine, sum, caller) = rx.recv_timeout(LONG).unwrap();
    assert_ne!(id, std::thread::current().id());
    assert_eq!(name.as_deref(), Some("rt-pool-own"));
    assert!(mine, "Threads::current() on a pool thread is that pool");
    assert_eq!(sum, 45);
    assert!(caller);
}

#[test]
fn tasks_run_in_the_order_they_were_submitted() {
    setup();
    static P: Threads = Threads::new("rt-pool-fifo", 1, false);
    let (started_tx, started_rx) = channel();
    let (open_tx, open_rx) = channel();
    P.submit(blocker(started_tx, open_rx));
    let blocker_thread = started_rx.recv_timeout(LONG).unwrap();

    let order = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, done_rx) = channel();
    const N: usize = 50;
    for i in 0..N {
        let order = order.clone();
        let done_tx = done_tx.clone();
        P.submit(Box::new(move |_py| {
            order.lock().unwrap().push((i, std::thread::current().id()));
            if i == N - 1 {
                done_tx.send(()).unwrap();
            }
        }));
    }
    // All wait behind the blocker, in the queue.
    assert_eq!(P.stats().queued, N);
    open_tx.send(()).unwrap();
    done_rx.recv_timeout(LONG).unwrap();

    let order = order.lock().unwrap();
    let ran: Vec<usize> = order.iter().map(|(i, _)| *i).collect();
    assert_eq!(ran, (0..N).collect::<Vec<_>>());
    // One thread (max 1) took them one after the other.
    assert!(order.iter().all(|(_, t)| *t == blocker_thread));
}

#[test]
fn never_more_threads_than_max() {
    setup();
    static P: Threads = Threads::new("rt-pool-max", 3, false);
    const N: usize = 12;
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (open_tx, open_rx) = channel::<()>();
    let open_rx = Arc::new(Mutex::new(open_rx));
    let (started_tx, started_rx) = channel();
    let (done_tx, done_rx) = channel();
    for _ in 0..N {
        let (running, peak, open_rx) = (running.clone(), peak.clone(), open_rx.clone());
        let (started_tx, done_tx) = (started_tx.clone(), done_tx.clone());
        P.submit(Box::new(move |py| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            started_tx.send(std::thread::current().id()).unwrap();
            py.detach(move || {
                let open = open_rx.lock().unwrap();
                open.recv_timeout(LONG).expect("opened");
            });
            running.fetch_sub(1, Ordering::SeqCst);
            done_tx.send(()).unwrap();
        }));
    }
    // Three tasks run, each holding its thread: the other nine wait for a thread.
    let mut threads = HashSet::new();
    for _ in 0..3 {
        threads.insert(started_rx.recv_timeout(LONG).unwrap());
    }
    assert_eq!(threads.len(), 3);
    let st = P.stats();
    assert_eq!(
        (st.max, st.threads, st.busy, st.queued),
        (3, 3, 3, N - 3),
        "max, threads, busy, queued"
    );

    for _ in 0..N {
        open_tx.send(()).unwrap();
    }
    for _ in 0..N {
        done_rx.recv_timeout(LONG).unwrap();
    }
    for _ in 3..N {
        threads.insert(started_rx.recv_timeout(LONG).unwrap());
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert!(threads.len() <= 3, "{} threads", threads.len());
}

#[test]
fn an_idle_thread_ends_after_idle_ms() {
    setup();
    static P: Threads = Threads::new("rt-pool-idle", 2, false);
    let (exit_tx, exit_rx) = channel();
    let (done_tx, done_rx) = channel();
    P.submit(Box::new(move |_py| {
        tell_on_exit(exit_tx);
        done_tx
            .send((std::thread::current().id(), Instant::now()))
            .unwrap();
    }));
    let (thread, done_at) = done_rx.recv_timeout(LONG).unwrap();
    let (ended, ended_at) = exit_rx.recv_timeout(LONG).expect("the idle thread ended");
    assert_eq!(ended, thread);
    let idle = ended_at - done_at;
    assert!(
        idle >= IDLE,
        "ended {idle:?} after its task, before idle_ms"
    );
    assert_eq!(P.stats().threads, 0);

    // The next task gets a new thread.
    let (tx, rx) = channel();
    P.submit(Box::new(move |_py| {
        tx.send(std::thread::current().id()).unwrap();
    }));
    assert_ne!(rx.recv_timeout(LONG).unwrap(), thread);
}

#[test]
fn a_lane_runs_all_its_tasks_on_one_thread_that_never_ends() {
    setup();
    static L: Threads = Threads::new("rt-lane", 1, true);
    let (started_tx, started_rx) = channel();
    let (open_tx, open_rx) = channel();
    L.submit(blocker(started_tx, open_rx));
    let lane_thread = started_rx.recv_timeout(LONG).unwrap();

    let (exit_tx, exit_rx) = channel();
    L.submit(Box::new(move |_py| tell_on_exit(exit_tx)));
    let (tx, rx) = channel();
    for _ in 0..20 {
        let tx = tx.clone();
        L.submit(Box::new(move |_py| {
            tx.send(std::thread::current().id()).unwrap();
        }));
    }
    // A lane has one thread whatever is queued, and keeps its limit.
    let st = L.stats();
    assert_eq!((st.max, st.threads, st.queued), (1, 1, 21));
    L.set_max(4);
    assert_eq!(L.stats().max, 1);
    open_tx.send(()).unwrap();
    for _ in 0..20 {
        assert_eq!(rx.recv_timeout(LONG).unwrap(), lane_thread);
    }

    // Idle for longer than idle_ms, the lane's thread is still there.
    std::thread::sleep(IDLE * 3);
    assert_eq!(exit_rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(L.stats().threads, 1);
    L.submit(Box::new(move |_py| {
        tx.send(std::thread::current().id()).unwrap();
    }));
    assert_eq!(rx.recv_timeout(LONG).unwrap(), lane_thread);
}

#[test]
fn run_one_runs_a_queued_task_on_the_busy_thread() {
    setup();
    static P: Threads = Threads::new("rt-pool-run-one", 1, false);
    // Nothing queued: nothing run.
    assert!(!interpreter::attach(|py| P.run_one(py)).unwrap());

    let (started_tx, started_rx) = channel();
    let (open_tx, open_rx) = channel::<()>();
    let (log_tx, log_rx) = channel();
    let log = log_tx.clone();
    P.submit(Box::new(move |py| {
        started_tx.send(()).unwrap();
        py.detach(move || open_rx.recv_timeout(LONG).expect("opened"));
        let me = std::thread::current().id();
        log.send(("a", me)).unwrap();
        let mut ran = 0;
        while P.run_one(py) {
            ran += 1;
        }
        assert_eq!(ran, 2);
        log.send(("a end", me)).unwrap();
    }));
    started_rx.recv_timeout(LONG).unwrap();
    for name in ["b", "c"] {
        let log = log_tx.clone();
        P.submit(Box::new(move |_py| {
            log.send((name, std::thread::current().id())).unwrap();
        }));
    }
    assert_eq!(P.stats().queued, 2);
    open_tx.send(()).unwrap();

    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(log_rx.recv_timeout(LONG).unwrap());
    }
    let names: Vec<&str> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["a", "b", "c", "a end"]);
    assert!(seen.iter().all(|(_, t)| *t == seen[0].1), "{seen:?}");
}

#[test]
fn stats_count_threads_busy_queued_and_done() {
    setup();
    static P: Threads = Threads::new("rt-pool-stats", 1, false);
    let st = P.stats();
    assert_eq!(
        (st.max, st.threads, st.busy, st.queued, st.done),
        (1, 0, 0, 0, 0)
    );

    let (started_tx, started_rx) = channel();
    let (open_tx, open_rx) = channel();
    P.submit(blocker(started_tx, open_rx));
    started_rx.recv_timeout(LONG).unwrap();
    for _ in 0..5 {
        P.submit(Box::new(|_py| {}));
    }
    let st = P.stats();
    assert_eq!((st.threads, st.busy, st.queued, st.done), (1, 1, 5, 0));

    // A last task reads the stats from inside: every task before it ran on the same
    // thread and was counted done before it was taken.
    let (probe_tx, probe_rx) = channel();
    P.submit(Box::new(move |_py| {
        let st = P.stats();
        probe_tx
            .send((st.threads, st.busy, st.queued, st.done))
            .unwrap();
    }));
    open_tx.send(()).unwrap();
    assert_eq!(probe_rx.recv_timeout(LONG).unwrap(), (1, 1, 0, 6));
}

#[test]
fn a_panicking_task_does_not_end_its_thread() {
    setup();
    static P: Threads = Threads::new("rt-pool-panic", 1, false);
    let (started_tx, started_rx) = channel();
    let (open_tx, open_rx) = channel();
    P.submit(blocker(started_tx, open_rx));
    let thread = started_rx.recv_timeout(LONG).unwrap();
    let (exit_tx, exit_rx) = channel();
    P.submit(Box::new(move |_py| tell_on_exit(exit_tx)));
    // (libtest's panic hook prints this panic's message; the test does not fail for it.)
    P.submit(Box::new(|_py| panic!("a task that panics, on purpose")));
    let (tx, rx) = channel();
    P.submit(Box::new(move |py| {
        let st = P.stats();
        let v: i64 = py.eval(c"6 * 7", None, None).unwrap().extract().unwrap();
        tx.send((std::thread::current().id(), st.done, st.threads, v))
            .unwrap();
    }));
    open_tx.send(()).unwrap();
    let (after, done, threads, v) = rx.recv_timeout(LONG).unwrap();
    assert_eq!(
        after, thread,
        "the same thread ran the task after the panic"
    );
    assert_eq!(exit_rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(done, 3, "the panicked task is counted done");
    assert_eq!(threads, 1);
    assert_eq!(v, 42);
}

#[test]
fn a_lowered_max_ends_the_threads_over_it() {
    setup();
    static P: Threads = Threads::new("rt-pool-set-max", 3, false);
    let (started_tx, started_rx) = channel();
    let (exit_tx, exit_rx) = channel();
    let mut opens = Vec::new();
    for _ in 0..3 {
        let (open_tx, open_rx) = channel();
        opens.push(open_tx);
        let exit_tx = exit_tx.clone();
        let started_tx = started_tx.clone();
        P.submit(Box::new(move |py| {
            tell_on_exit(exit_tx);
            blocker(started_tx, open_rx)(py);
        }));
    }
    let mut threads = HashSet::new();
    for _ in 0..3 {
        threads.insert(started_rx.recv_timeout(LONG).unwrap());
    }
    assert_eq!(P.stats().threads, 3);
    P.set_max(1);
    assert_eq!(P.stats().max, 1);
    for open in opens {
        open.send(()).unwrap();
    }
    // Two threads end as soon as they are idle (well before idle_ms would end them).
    for _ in 0..2 {
        let (t, _) = exit_rx.recv_timeout(LONG).unwrap();
        assert!(threads.contains(&t));
    }
    assert!(P.stats().threads <= 1);

    // From now on one task at a time.
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = channel();
    for _ in 0..6 {
        let (running, peak, done_tx) = (running.clone(), peak.clone(), done_tx.clone());
        P.submit(Box::new(move |py| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            // Give the GIL up for a while, so another thread could run a task meanwhile.
            py.detach(std::thread::yield_now);
            running.fetch_sub(1, Ordering::SeqCst);
            done_tx.send(()).unwrap();
        }));
    }
    for _ in 0..6 {
        done_rx.recv_timeout(LONG).unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1);

    // The limit is at least one.
    P.set_max(0);
    assert_eq!(P.stats().max, 1);
}

#[test]
fn the_librarys_pools() {
    setup();
    assert_eq!(threads::CALLS.stats().max, 8);
    assert_eq!(threads::STREAMS.stats().max, 32);
    assert_eq!(janitor::CLEANUP.stats().max, 4);
    assert_eq!(threads::LANE.len(), threads::LANES);
    for lane in &threads::LANE {
        assert_eq!(lane.stats().max, 1);
    }
    let (tx, rx) = channel();
    for (p, name) in [
        (&threads::CALLS, "snakebridge-call"),
        (&threads::STREAMS, "snakebridge-stream"),
        (&threads::LANE[0], "snakebridge-lane"),
    ] {
        let tx = tx.clone();
        p.submit(Box::new(move |_py| {
            let me = Threads::current().is_some_and(|c| std::ptr::eq(c, p));
            let name_now = std::thread::current().name().map(String::from);
            tx.send((name, name_now, me)).unwrap();
        }));
        let (name, name_now, me) = rx.recv_timeout(LONG).unwrap();
        assert_eq!(name_now.as_deref(), Some(name));
        assert!(me, "{name}");
    }
}
