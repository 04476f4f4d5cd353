//! Python code that forks: the child gets default signals and an empty signal mask, and
//! ends with `_exit` when its pool job returns, running no exit handler of the parent.
//! The fork itself happens in a process of its own (the test binary run again for that
//! one test), never in the process running the other tests.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use snakebridge_core::fork;
use snakebridge_core::threads::Threads;

const LONG: Duration = Duration::from_secs(60);

#[test]
fn the_guard_installs_once_and_the_node_is_no_child() {
    rust_tests::start();
    // interpreter::init installed it; again is no error.
    fork::guard().unwrap();
    fork::guard().unwrap();
    assert!(!fork::in_child());
    // In the node itself this returns (it ends only a forked child).
    fork::exit_if_child();
}

/// The write end of the report pipe, for the exit handler below (-1: none).
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

/// A C exit handler of the "node": it must not run in the forked child.
extern "C" fn parent_exit_handler() {
    let fd = REPORT_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: writes one byte from a static buffer to a descriptor of this process.
        unsafe { libc::write(fd, b"X".as_ptr().cast(), 1) };
    }
}

fn sigset_with(sig: libc::c_int) -> libc::sigset_t {
    // SAFETY: the set is initialised by sigemptyset before sigaddset touches it.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        set
    }
}

#[test]
fn a_child_forked_by_python_resets_signals_and_ends_after_its_job() {
    if !rust_tests::in_own_process("a_child_forked_by_python_resets_signals_and_ends_after_its_job")
    {
        return;
    }
    rust_tests::start();
    static P: Threads = Threads::new("rt-fork", 1, false);

    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read_fd, write_fd) = (fds[0], fds[1]);
    REPORT_FD.store(write_fd, Ordering::SeqCst);
    // SAFETY: registers a plain extern "C" function.
    assert_eq!(unsafe { libc::atexit(parent_exit_handler) }, 0);

    let (tx, rx) = channel();
    P.submit(Box::new(move |py| {
        // What the node has: SIGTERM ignored, SIGUSR1 blocked on this thread.
        let usr1 = sigset_with(libc::SIGUSR1);
        // SAFETY: changes this (test) process's SIGTERM action and this thread's mask,
        // both put back below in the parent; the set is initialised.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            libc::pthread_sigmask(libc::SIG_BLOCK, &usr1, std::ptr::null_mut());
        }
        let pid: i32 = py
            .import("os")
            .unwrap()
            .call_method0("fork")
            .unwrap()
            .extract()
            .unwrap();
        if pid == 0 {
            // The child: report what it sees, then return to the pool, which ends it.
            // SAFETY: queries only (no new action, no new mask); the outputs are locals.
            let (term_default, usr1_unblocked) = unsafe {
                let mut old = std::mem::zeroed::<libc::sigaction>();
                libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut old);
                let mut mask = std::mem::zeroed::<libc::sigset_t>();
                libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
                (
                    old.sa_sigaction == libc::SIG_DFL,
                    libc::sigismember(&mask, libc::SIGUSR1) == 0,
                )
            };
            let report = [
                b'0' + u8::from(fork::in_child()),
                b'0' + u8::from(term_default),
                b'0' + u8::from(usr1_unblocked),
            ];
            // SAFETY: writes the local report to the pipe inherited from the parent.
            unsafe { libc::write(write_fd, report.as_ptr().cast(), report.len()) };
            return;
        }
        // The parent: its own signals are as they were set; put them back.
        // SAFETY: as above; the write end closes here so the read sees the end once the
        // child is gone.
        let parent_term_ignored = unsafe {
            let mut old = std::mem::zeroed::<libc::sigaction>();
            libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut old);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &usr1, std::ptr::null_mut());
            REPORT_FD.store(-1, Ordering::SeqCst);
            libc::close(write_fd);
            old.sa_sigaction == libc::SIG_IGN
        };
        tx.send((pid, parent_term_ignored, fork::in_child()))
            .unwrap();
    }));
    let (pid, parent_term_ignored, parent_in_child) = rx.recv_timeout(LONG).unwrap();
    assert!(pid > 0);
    assert!(parent_term_ignored, "the parent's signals are its own");
    assert!(!parent_in_child);

    // Everything the child wrote, up to its end (the end of the pipe).
    let mut report = Vec::new();
    let mut buf = [0u8; 16];
    loop {
        let mut pfd = libc::pollfd {
            fd: read_fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one descriptor of a local pollfd; bounded so a child that never
        // ends fails the test instead of hanging it.
        let ready = unsafe { libc::poll(&mut pfd, 1, LONG.as_millis() as libc::c_int) };
        if ready != 1 {
            // SAFETY: kills our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child neither wrote nor ended ({ready})");
        }
        // SAFETY: reads into a local buffer of the given size.
        let n = unsafe { libc::read(read_fd, buf.as_mut_ptr().cast(), buf.len()) };
        assert!(n >= 0, "read failed");
        if n == 0 {
            break;
        }
        report.extend_from_slice(&buf[..n as usize]);
    }
    // in_child, SIGTERM default, SIGUSR1 unblocked; and no "X": no exit handler ran.
    assert_eq!(String::from_utf8_lossy(&report), "111");

    // The child ended by itself, with status 0 (its pool job returned: `_exit(0)`).
    let deadline = Instant::now() + LONG;
    let mut status = 0;
    loop {
        // SAFETY: waits (without blocking) for our own child; status is a local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        assert_eq!(r, 0, "waitpid failed");
        if Instant::now() > deadline {
            // SAFETY: kills our own child, which should have ended long ago.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child did not end");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(libc::WIFEXITED(status), "status {status}");
    assert_eq!(libc::WEXITSTATUS(status), 0);

    // The pool thread in this process goes on working.
    let (tx, rx) = channel();
    P.submit(Box::new(move |py| {
        let v: i64 = py.eval(c"2 ** 5", None, None).unwrap().extract().unwrap();
        tx.send(v).unwrap();
    }));
    assert_eq!(rx.recv_timeout(LONG).unwrap(), 32);
}
