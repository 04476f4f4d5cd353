//! Python talking to the BEAM: an Elixir pid given to Python is a `snakebridge.Pid`
//! with `.send(value)`; `snakebridge.send(pid, value)`; an Elixir function given to
//! Python is a `snakebridge.Function`, a callable that runs the function in a BEAM
//! process and returns its result.
//!
//! A call of a Function sends `{tag, :callback, id, fun, args}` to the process that made
//! the Python call, which runs it in a process of its own (`SnakeBridge.ElixirCalls`: the
//! caller keeps its deadline); from a thread with no caller, the sink spawns a process
//! for it. The Python thread waits detached; meanwhile it runs work queued on
//! its own `Threads`, so a function that calls back into Python (even into the same
//! thread-affine session) is served instead of waiting for this thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use pyo3::exceptions::{PyRuntimeError, PyTimeoutError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rustler::env::SavedTerm;
use rustler::{Encoder, Env, LocalPid, OwnedEnv, Term};

use crate::atoms::{callback, ok, snakebridge_callback};
use crate::convert::{self, ToTerm};
use crate::objects::Ctx;
use crate::output;
use snakebridge_core::interrupt;
use snakebridge_core::threads::Threads;

/// How long a Python call of an Elixir function waits for its result (tunable).
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(5_000);

pub fn set_timeout(ms: u64) {
    TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// The callback timeout (also the default wait of a `SnakeBridge.iter/2` batch).
pub fn timeout() -> Duration {
    Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed))
}

/// A fresh reply id (Elixir function calls and iterators share the numbering).
pub fn next_id() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The context of values made outside any call (Refs of the default session).
static CTX: Lazy<Arc<Ctx>> = Lazy::new(|| {
    Arc::new(Ctx {
        session_id: crate::session::DEFAULT.into(),
        pool_name: None,
        library: "snakebridge".into(),
        session: None,
        arrays: crate::objects::Arrays::Off,
    })
});

/// An Elixir pid, in Python.
#[pyclass(name = "Pid", module = "snakebridge", frozen)]
pub struct PyPid {
    pub pid: LocalPid,
}

#[pymethods]
impl PyPid {
    /// Sends `value` (converted as a call's result is) to the process.
    fn send(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        send(&self.pid, value)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyPid>().is_ok_and(|o| o.get().pid == self.pid)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.pid.hash(&mut h);
        h.finish()
    }

    fn __repr__(&self) -> String {
        "<snakebridge.Pid>".into()
    }
}

/// `snakebridge.send(pid, value)`.
#[pyfunction]
#[pyo3(name = "send")]
pub fn send_fn(pid: &Bound<'_, PyPid>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    send(&pid.get().pid, value)
}

fn send(pid: &LocalPid, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let mut env = OwnedEnv::new();
    let saved = env.run(|e| ToTerm::new(e, &CTX).term(value).map(|t| env.save(t)))?;
    // A dead process is not an error (as with Erlang's send).
    let _ = env.send_and_clear(pid, |e| saved.load(e));
    Ok(())
}

/// An Elixir function, in Python: calling it runs it in the BEAM.
#[pyclass(name = "Function", module = "snakebridge", frozen)]
pub struct PyFun {
    fun: Mutex<(OwnedEnv, SavedTerm)>,
}

impl PyFun {
    pub fn new(fun: Term<'_>) -> Self {
        let env = OwnedEnv::new();
        let saved = env.save(fun);
        PyFun {
            fun: Mutex::new((env, saved)),
        }
    }

    /// The function, as a term of `env`.
    pub fn term<'a>(&self, env: Env<'a>) -> Term<'a> {
        let held = self.fun.lock().unwrap_or_else(|p| p.into_inner());
        held.0.run(|e| held.1.load(e).in_env(env))
    }
}

/// The function and its arguments, as terms of `env` (for the message).
fn request<'a>(
    fun: &PyFun,
    argv: &OwnedEnv,
    args: &SavedTerm,
    env: Env<'a>,
) -> (Term<'a>, Term<'a>) {
    (fun.term(env), argv.run(|a| args.load(a).in_env(env)))
}

/// A reply of the BEAM, waited for by a Python thread.
#[derive(Default)]
struct Pending {
    reply: Mutex<Option<(OwnedEnv, SavedTerm)>>,
    cv: Condvar,
}

static PENDING: Lazy<Mutex<HashMap<u64, Arc<Pending>>>> = Lazy::new(Default::default);
static NEXT: AtomicU64 = AtomicU64::new(1);

#[pymethods]
impl PyFun {
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        if kwargs.is_some_and(|k| !k.is_empty()) {
            return Err(PyTypeError::new_err(
                "an Elixir function takes positional arguments only",
            ));
        }
        let id = next_id();
        let pending = Arc::new(Pending::default());
        PENDING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, pending.clone());
        let _forget = Forget(id);
        // The arguments, converted once (an error is Python's, before anything is sent).
        let argv = OwnedEnv::new();
        let saved_args = argv.run(|e| -> PyResult<SavedTerm> {
            let enc = ToTerm::new(e, &CTX);
            let terms = args
                .iter()
                .map(|a| enc.term(&a))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(argv.save(terms.encode(e)))
        })?;
        let sent = match output::to_caller(&mut |e, tag| {
            let (fun, args) = request(self, &argv, &saved_args, e);
            (tag, callback(), id, fun, args).encode(e)
        }) {
            Some(sent) => sent,
            None => output::sink().is_some_and(|pid| {
                let mut msg = OwnedEnv::new();
                msg.send_and_clear(&pid, |e| {
                    let (fun, args) = request(self, &argv, &saved_args, e);
                    (snakebridge_callback(), id, fun, args).encode(e)
                })
                .is_ok()
            }),
        };
        if !sent {
            return Err(PyRuntimeError::new_err(
                "cannot call the Elixir function: its caller stopped waiting, or SnakeBridge is not running",
            ));
        }
        let (env, reply) = wait(py, &pending)?;
        env.run(|e| {
            let (status, value): (rustler::Atom, Term) = reply
                .load(e)
                .decode()
                .map_err(|_| PyRuntimeError::new_err("malformed reply of an Elixir function"))?;
            if status == ok() {
                match convert::to_py(py, value, false) {
                    Ok(obj) => Ok(obj.unbind()),
                    Err(err) => Err(match err.into_result(e) {
                        Ok(_) => PyTypeError::new_err(
                            "the Elixir function returned a value with no Python equivalent",
                        ),
                        Err(err) => PyRuntimeError::new_err(err.to_string()),
                    }),
                }
            } else {
                let message: String = value.decode().unwrap_or_else(|_| format!("{value:?}"));
                Err(ElixirError::new_err(message))
            }
        })
    }

    fn __repr__(&self) -> String {
        "<snakebridge.Function>".into()
    }
}

pyo3::create_exception!(
    snakebridge,
    ElixirError,
    pyo3::exceptions::PyException,
    "An Elixir function called from Python raised (the message is Elixir's)."
);

/// Unregisters a pending reply however the call ends.
struct Forget(u64);

impl Drop for Forget {
    fn drop(&mut self) {
        PENDING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

/// Waits for the reply, detached; runs the queued work of this thread's `Threads` meanwhile. The
/// job that called is suspended while it waits: a stop meant for it ends the wait (and
/// never lands in the work run meanwhile).
fn wait(py: Python<'_>, pending: &Pending) -> PyResult<(OwnedEnv, SavedTerm)> {
    let limit = Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed));
    let deadline = Instant::now() + limit;
    let threads: Option<&'static Threads> = Threads::current();
    let job = interrupt::current();
    let _suspended = interrupt::Suspended::current(py);
    loop {
        if let Some(reply) = pending
            .reply
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Ok(reply);
        }
        // The job was stopped (timeout, cancel): it ends here, as if interrupted.
        if let Some(stopped) = job.as_ref().and_then(|j| j.stopped()) {
            let message = format!("stopped while waiting for an Elixir function: {stopped}");
            return Err(match snakebridge_core::interpreter::interrupt_type(py) {
                Some(t) => PyErr::from_type(t.clone(), message),
                None => PyRuntimeError::new_err(message),
            });
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(PyTimeoutError::new_err(format!(
                "the Elixir function did not return within {} ms",
                limit.as_millis()
            )));
        }
        // Work the function itself may have queued here (a call back into Python).
        if threads.is_some_and(|t| t.run_one(py)) {
            continue;
        }
        let wait = (deadline - now).min(Duration::from_millis(5));
        py.detach(|| {
            let reply = pending.reply.lock().unwrap_or_else(|p| p.into_inner());
            if reply.is_none() {
                let _ = pending.cv.wait_timeout(reply, wait);
            }
        });
    }
}

/// The BEAM's answer to call `id`: `{:ok, value}` or `{:error, message}`. False when
/// nobody waits any more (it timed out).
pub fn reply(id: u64, result: Term<'_>) -> bool {
    let Some(pending) = PENDING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned()
    else {
        // A batch of a `SnakeBridge.iter/2` producer (iter_in.rs).
        return crate::iter_in::reply(id, result);
    };
    let env = OwnedEnv::new();
    let saved = env.save(result);
    *pending.reply.lock().unwrap_or_else(|p| p.into_inner()) = Some((env, saved));
    pending.cv.notify_all();
    true
}
