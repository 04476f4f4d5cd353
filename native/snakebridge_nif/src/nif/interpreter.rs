//! Starting Python, the threads' settings and counters.

use rustler::{Encoder, Env, Term};
use snakebridge_core::{interpreter, janitor};

use crate::call::reply;
use crate::error::Error;
use crate::{job, objects, pymod};

/// Starts Python (on a dirty scheduler: start-up takes ~100 ms).
#[rustler::nif(schedule = "DirtyIo")]
fn init(env: Env<'_>, executable: Option<String>, paths: Vec<String>) -> Term<'_> {
    let started = interpreter::init(executable, paths)
        .and_then(|()| interpreter::attach(|py| pymod::install(py).map_err(Error::from))?);
    reply(env, started.map(|()| interpreter::BUILD_PYTHON.encode(env)))
}

/// The lower limit of any call: an empty NIF on a dirty scheduler (benchmarks).
#[rustler::nif(schedule = "DirtyIo")]
fn noop() -> bool {
    true
}

/// The same, attached to Python once (benchmarks).
#[rustler::nif(schedule = "DirtyIo")]
fn noop_attached(env: Env<'_>) -> Term<'_> {
    reply(env, interpreter::attach(|_py| true.encode(env)))
}

/// `{live stream handles, objects waiting for release}`, for leak tests.
#[rustler::nif]
fn stats(env: Env<'_>) -> Term<'_> {
    (objects::live_streams(), janitor::pending()).encode(env)
}

/// The interpreter the NIF was built against.
#[rustler::nif]
fn build_python() -> &'static str {
    interpreter::BUILD_PYTHON
}

/// `[{name, max, threads, busy, queued, done}]`: what the library's threads are doing now.
#[rustler::nif]
fn thread_stats(env: Env<'_>) -> Term<'_> {
    job::thread_stats(env)
}

/// Sets the thread limits and the threads' spin, watch and idle times.
#[rustler::nif]
fn configure_threads(calls: usize, streams: usize, times: (u64, u64, bool), idle_ms: u64) -> bool {
    job::configure_threads(calls, streams, times, idle_ms)
}
