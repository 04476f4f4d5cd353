//! SnakeBridge native: CPython embedded in the BEAM.

pub mod bigstack;
pub mod call;
pub mod cleanup;
pub mod convert;
pub mod error;
pub mod fork;
pub mod interrupt;
pub mod job;
pub mod objects;
pub mod ops;
pub mod pool;
pub mod runtime;
pub mod session;
pub mod stream;
pub mod wire;
pub mod worker;

use rustler::{Encoder, Env, Term};

use crate::call::reply;

/// Starts Python (on a dirty scheduler: start-up takes ~100 ms).
#[rustler::nif(schedule = "DirtyIo")]
fn init(env: Env<'_>, executable: Option<String>, paths: Vec<String>) -> Term<'_> {
    reply(
        env,
        runtime::init(executable, paths).map(|()| runtime::BUILD_PYTHON.encode(env)),
    )
}

/// The lower limit of any call: an empty NIF on the same dirty scheduler type.
#[rustler::nif(schedule = "DirtyIo")]
fn noop() -> bool {
    true
}

/// The same, attached to Python once.
#[rustler::nif(schedule = "DirtyIo")]
fn noop_attached(env: Env<'_>) -> Term<'_> {
    reply(env, runtime::attach(|_py| true.encode(env)))
}

/// `{live stream handles, objects waiting for release}`, for leak tests.
#[rustler::nif]
fn stats(env: Env<'_>) -> Term<'_> {
    (objects::live_streams(), cleanup::pending()).encode(env)
}

#[rustler::nif]
fn build_python() -> &'static str {
    runtime::BUILD_PYTHON
}

rustler::init!("Elixir.SnakeBridge.Native");
