//! Starting Python, the pools' settings and counters.

use rustler::{Encoder, Env, LocalPid, Term};
use snakebridge_core::{janitor, runtime};

use crate::call::reply;
use crate::error::Error;
use crate::{callback, job, objects, output, pymod};

/// Starts Python (on a dirty scheduler: start-up takes ~100 ms).
#[rustler::nif(schedule = "DirtyIo")]
fn init(env: Env<'_>, executable: Option<String>, paths: Vec<String>) -> Term<'_> {
    let started = runtime::init(executable, paths)
        .and_then(|()| runtime::attach(|py| pymod::install(py).map_err(Error::from))?);
    reply(env, started.map(|()| runtime::BUILD_PYTHON.encode(env)))
}

/// The answer of the BEAM to an Elixir function Python called (see callback.rs).
#[rustler::nif]
fn callback_reply(id: u64, result: Term<'_>) -> bool {
    callback::reply(id, result)
}

/// How long Python waits for an Elixir function it called.
#[rustler::nif]
fn set_callback_timeout(ms: u64) -> bool {
    callback::set_timeout(ms);
    true
}

/// Output routing on or off (benchmarks measure its cost; off, output of calls goes to
/// the sink like that of Python's own threads).
#[rustler::nif]
fn set_output_routing(on: bool) -> bool {
    output::set_routing(on);
    true
}

/// The process that takes output of threads with no caller (`SnakeBridge.Sink`).
#[rustler::nif]
fn set_sink(pid: LocalPid) -> bool {
    output::set_sink(pid);
    true
}

/// The lower limit of any call: an empty NIF on a dirty scheduler (benchmarks).
#[rustler::nif(schedule = "DirtyIo")]
fn noop() -> bool {
    true
}

/// The same, attached to Python once (benchmarks).
#[rustler::nif(schedule = "DirtyIo")]
fn noop_attached(env: Env<'_>) -> Term<'_> {
    reply(env, runtime::attach(|_py| true.encode(env)))
}

/// `{live stream handles, objects waiting for release}`, for leak tests.
#[rustler::nif]
fn stats(env: Env<'_>) -> Term<'_> {
    (objects::live_streams(), janitor::pending()).encode(env)
}

/// The interpreter the NIF was built against.
#[rustler::nif]
fn build_python() -> &'static str {
    runtime::BUILD_PYTHON
}

/// `[{pool, max, threads, busy, queued, done}]`: what the pools are doing now.
#[rustler::nif]
fn pool_stats(env: Env<'_>) -> Term<'_> {
    job::pool_stats(env)
}

/// Sets the pools' limits and the threads' spin, watch and idle times.
#[rustler::nif]
fn configure_pools(calls: usize, streams: usize, times: (u64, u64), idle_ms: u64) -> bool {
    job::configure_pools(calls, streams, times, idle_ms)
}
