//! Python code may fork (`os.fork()`, `multiprocessing` with "fork", `subprocess` with a
//! `preexec_fn`). The child is a copy of the BEAM: it must not share the BEAM's signal
//! handling (the BEAM's handlers write to a pipe the parent reads, so a SIGTERM meant for
//! the child would stop the parent), and it must never go back to BEAM work.
//!
//! After a fork the child gets default signal dispositions and an empty signal mask (so
//! `Process.terminate()` works), and a library thread that finds itself in a forked child
//! when its job returns ends the child with `_exit` before touching anything of the BEAM.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;

static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Set by the fork handler in the child only (the parent's copy stays false): a check
/// on every job must not cost a getpid system call.
static IN_CHILD: AtomicBool = AtomicBool::new(false);

/// Whether this process is a child forked from the node (by Python code).
pub fn in_child() -> bool {
    IN_CHILD.load(Ordering::Relaxed)
}

/// Ends a forked child that came back to library code (its Python job returned).
pub fn exit_if_child() {
    if in_child() {
        // SAFETY: _exit ends the process at once, without running the parent's atexit
        // handlers or destructors (which belong to the BEAM it was copied from).
        unsafe { libc::_exit(0) };
    }
}

/// In the child, right after fork: only async-signal-safe calls.
extern "C" fn after_fork_in_child() {
    // An atomic store is async-signal-safe.
    IN_CHILD.store(true, Ordering::Relaxed);
    // SAFETY: signal, sigemptyset and sigprocmask are async-signal-safe; the set is a
    // local, initialised by sigemptyset before use. Results are not checked: there is
    // nothing a child can do here about a signal it cannot reset (SIGKILL, SIGSTOP).
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigprocmask(libc::SIG_SETMASK, set.as_ptr(), std::ptr::null_mut());
    }
}

/// Installs the fork handler once, when Python starts.
pub fn guard() -> Result<(), Error> {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    // SAFETY: the handler is a plain extern "C" function that lives as long as the
    // library (which is never unloaded while Python runs).
    let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    if rc != 0 {
        return Err(Error::Init(format!("pthread_atfork failed ({rc})")));
    }
    Ok(())
}
