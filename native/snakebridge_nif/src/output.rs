//! Python's `sys.stdout` and `sys.stderr`: what a call prints goes to its caller.
//!
//! While a library thread runs a job it has a *target*: the caller's pid and the job's tag.
//! A write appends to the target's buffer; complete lines (and whatever is there on
//! `flush()` or at the end of the job) are sent to the caller as `{tag, :io, device,
//! text}`, which `SnakeBridge.Executor` writes to the caller's group leader (stdout) or
//! `:standard_error`. Python never waits for the device: a send is a copy. Threads with
//! no target (started by Python code itself) send `{:snakebridge_io, device, text}` to
//! the sink process (`SnakeBridge.Sink`), which writes to the node's group leader.

use snakebridge_core::shim::Helper;
use std::cell::RefCell;
use std::sync::Mutex;

use pyo3::prelude::*;
use rustler::{sys, Encoder, Env, LocalPid, OwnedEnv, Term};

use crate::atoms::{io, snakebridge_io, snakebridge_log, stderr, stdout};

/// Who gets the messages of a job, and whether it still wants them.
pub trait Recipient {
    /// Runs `send` unless the receiver stopped waiting, holding the lock that cancelling
    /// takes (so nothing arrives after a cancel). True if it ran and sent.
    fn if_live(&self, send: &mut dyn FnMut() -> bool) -> bool;

    /// Sends `make`'s message unless the receiver stopped waiting. True if sent.
    fn send_live(
        &self,
        pid: &LocalPid,
        msg: &mut OwnedEnv,
        make: &mut dyn for<'a> FnMut(Env<'a>) -> Term<'a>,
    ) -> bool {
        self.if_live(&mut || msg.send_and_clear(pid, &mut *make).is_ok())
    }
}

/// A buffer is sent once it holds this much, line or not.
const FLUSH_AT: usize = 64 * 1024;

struct Target {
    pid: LocalPid,
    /// The job's env and its tag there: valid while `scoped` runs (the only time a
    /// target is on the stack).
    env: *mut sys::ErlNifEnv,
    tag: sys::ErlNifTerm,
    recipient: *const (dyn Recipient + 'static),
    out: String,
    err: String,
    sent: bool,
}

thread_local! {
    /// Targets of the jobs running on this thread, innermost last (a thread that waits
    /// for something may run another job meanwhile).
    static TARGETS: RefCell<Vec<Target>> = const { RefCell::new(Vec::new()) };
    /// Output of a thread with no target, by device.
    static LOOSE: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
}

/// Whether jobs route their output (off only to measure what routing costs: bench/).
static ROUTE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub fn set_routing(on: bool) {
    ROUTE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The process that takes output (and logging) of threads with no target.
static SINK: Mutex<Option<LocalPid>> = Mutex::new(None);

pub fn set_sink(pid: LocalPid) {
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = Some(pid);
}

pub fn sink() -> Option<LocalPid> {
    *SINK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` with output going to `pid` as `{tag, :io, device, text}`; flushes what is
/// left at the end. Also says whether anything was sent (then the answer must come as a
/// message too, after the output).
pub fn scoped<R>(
    pid: &LocalPid,
    env: Env<'_>,
    tag: Term<'_>,
    recipient: &dyn Recipient,
    f: impl FnOnce() -> R,
) -> (R, bool) {
    if !ROUTE.load(std::sync::atomic::Ordering::Relaxed) {
        return (f(), false);
    }
    // SAFETY: only the lifetime is erased. The pointer is used only while this function
    // runs (the target is popped before it returns, on every path: `Pop` drops on
    // unwinding too), and `recipient` outlives this call.
    let recipient: *const (dyn Recipient + 'static) = unsafe { std::mem::transmute(recipient) };
    TARGETS.with(|t| {
        t.borrow_mut().push(Target {
            pid: *pid,
            env: env.as_c_arg(),
            tag: tag.as_c_arg(),
            recipient,
            out: String::new(),
            err: String::new(),
            sent: false,
        })
    });
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            TARGETS.with(|t| t.borrow_mut().pop());
        }
    }
    let pop = Pop;
    let result = f();
    let sent = TARGETS.with(|t| {
        let mut targets = t.borrow_mut();
        let target = targets.last_mut().expect("pushed above");
        if !target.out.is_empty() || !target.err.is_empty() {
            send(target, Device::Out, usize::MAX);
            send(target, Device::Err, usize::MAX);
        }
        target.sent
    });
    drop(pop);
    (result, sent)
}

#[derive(Clone, Copy)]
enum Device {
    Out,
    Err,
}

impl Device {
    fn of(fd: i32) -> Device {
        if fd == 2 {
            Device::Err
        } else {
            Device::Out
        }
    }
}

/// Sends the first `upto` bytes of the device's buffer (all: `usize::MAX`).
fn send(target: &mut Target, dev: Device, upto: usize) {
    let buf = match dev {
        Device::Out => &mut target.out,
        Device::Err => &mut target.err,
    };
    if buf.is_empty() {
        return;
    }
    let text: String = if upto >= buf.len() {
        std::mem::take(buf)
    } else {
        buf.drain(..upto).collect()
    };
    let (env, tag) = (target.env, target.tag);
    let mut make = message(|e| {
        // SAFETY: `env` is the env of the job this target belongs to, and the job is
        // running on this thread (inside `scoped`), so the env and its `tag` are alive.
        let tag = unsafe { Term::new(Env::new(&(), env), tag) };
        let device = match dev {
            Device::Out => stdout(),
            Device::Err => stderr(),
        };
        (tag.in_env(e), io(), device, text.as_str()).encode(e)
    });
    let mut msg = OwnedEnv::new();
    // SAFETY: the recipient outlives the scope this target lives in (see `scoped`).
    let recipient = unsafe { &*target.recipient };
    if recipient.send_live(&target.pid, &mut msg, &mut make) {
        target.sent = true;
    }
}

/// Sends `make(env, tag)` to the caller of the job running on this thread: `None` when
/// there is none, else whether it was sent (false once the caller stopped waiting).
pub fn to_caller(make: &mut dyn for<'a> FnMut(Env<'a>, Term<'a>) -> Term<'a>) -> Option<bool> {
    TARGETS.with(|t| {
        let targets = t.borrow();
        let target = targets.last()?;
        let (env, tag) = (target.env, target.tag);
        let mut build = message(|e| {
            // SAFETY: as in `send`: the target's job runs on this thread, so its env and
            // tag are alive.
            let tag = unsafe { Term::new(Env::new(&(), env), tag) };
            make(e, tag.in_env(e))
        });
        let mut msg = OwnedEnv::new();
        // SAFETY: the recipient outlives the scope this target lives in (see `scoped`).
        let recipient = unsafe { &*target.recipient };
        Some(recipient.send_live(&target.pid, &mut msg, &mut build))
    })
}

/// Gives a closure the higher-ranked type `Recipient::send_live` takes.
pub fn message<F: for<'a> FnMut(Env<'a>) -> Term<'a>>(f: F) -> F {
    f
}

/// `sys.stdout.write` / `sys.stderr.write` (fd 1 or 2) of the library's streams.
#[pyfunction]
#[pyo3(name = "_write")]
pub fn write(fd: i32, text: &str) {
    let dev = Device::of(fd);
    let done = TARGETS.with(|t| {
        let mut targets = t.borrow_mut();
        let Some(target) = targets.last_mut() else {
            return false;
        };
        let buf = match dev {
            Device::Out => &mut target.out,
            Device::Err => &mut target.err,
        };
        buf.push_str(text);
        if buf.len() >= FLUSH_AT {
            send(target, dev, usize::MAX);
        } else if let Some(nl) = text.rfind('\n') {
            // Whole lines go now; the rest waits for its newline.
            let upto = buf.len() - text.len() + nl + 1;
            send(target, dev, upto);
        }
        true
    });
    if !done {
        loose(dev, text, false);
    }
}

/// `flush()`: what is buffered goes now (a progress line without a newline).
#[pyfunction]
#[pyo3(name = "_flush")]
pub fn flush(fd: i32) {
    let dev = Device::of(fd);
    let done = TARGETS.with(|t| match t.borrow_mut().last_mut() {
        Some(target) => {
            send(target, dev, usize::MAX);
            true
        }
        None => false,
    });
    if !done {
        loose(dev, "", true);
    }
}

/// Output of a thread with no target: whole lines go to the sink.
fn loose(dev: Device, text: &str, flush: bool) {
    LOOSE.with(|l| {
        let mut l = l.borrow_mut();
        let buf = match dev {
            Device::Out => &mut l.0,
            Device::Err => &mut l.1,
        };
        buf.push_str(text);
        let upto = if flush || buf.len() >= FLUSH_AT {
            buf.len()
        } else {
            match buf.rfind('\n') {
                Some(nl) => nl + 1,
                None => return,
            }
        };
        let text: String = buf.drain(..upto).collect();
        if text.is_empty() {
            return;
        }
        let device = match dev {
            Device::Out => stdout(),
            Device::Err => stderr(),
        };
        let sent = sink().is_some_and(|pid| {
            let mut msg = OwnedEnv::new();
            msg.send_and_clear(&pid, |e| {
                (snakebridge_io(), device, text.as_str()).encode(e)
            })
            .is_ok()
        });
        if !sent {
            // No sink (the application is not running): the process's own descriptor.
            write_fd(dev, &text);
        }
    });
}

fn write_fd(dev: Device, text: &str) {
    use std::io::Write;
    let _ = match dev {
        Device::Out => std::io::stdout().write_all(text.as_bytes()),
        Device::Err => std::io::stderr().write_all(text.as_bytes()),
    };
}

/// A `logging` record, for Logger (see `configure_logging` in shim.py). False (dropped)
/// when the application is not running.
#[pyfunction]
#[pyo3(name = "_log")]
pub fn log(level: i32, name: &str, message: &str) -> bool {
    match sink() {
        Some(pid) => OwnedEnv::new()
            .send_and_clear(&pid, |e| {
                (snakebridge_log(), level, name, message).encode(e)
            })
            .is_ok(),
        None => false,
    }
}

/// Makes `sys.stdout` and `sys.stderr` the library's streams (see shim.py).
pub fn install(py: Python<'_>, module: &Bound<'_, PyModule>) -> PyResult<()> {
    Helper::InstallOutput.call1(py, (module,))?;
    Ok(())
}
