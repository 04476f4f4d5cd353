//! Queueing an operation for a library thread, and stopping it (see `SnakeBridge.Executor`).

use rustler::{Encoder, Env, ResourceArc, Term};

use crate::atoms::large;

use crate::job::{self, JobRes};

/// Returns the job, `:large` when the request is too large to copy here (then
/// `submit_large` copies it on a dirty scheduler), or `{:error, reason}`.
// (A NIF argument named `args` breaks rustler's macro: hence `request`.)
#[rustler::nif]
fn submit<'a>(
    env: Env<'a>,
    tag: Term<'a>,
    request: Term<'a>,
    route: Term<'a>,
    timeout_ms: Option<u64>,
) -> Term<'a> {
    if !job::is_small(request) {
        return large().encode(env);
    }
    job::submit(env, tag, request, (route, true), timeout_ms)
}

/// `submit` that never watches for the answer: it always comes as a message, so the
/// caller goes on at once (a batch is produced while the caller uses the previous one).
/// `:large` as `submit`.
#[rustler::nif]
fn submit_async<'a>(
    env: Env<'a>,
    tag: Term<'a>,
    request: Term<'a>,
    route: Term<'a>,
    timeout_ms: Option<u64>,
) -> Term<'a> {
    if !job::is_small(request) {
        return large().encode(env);
    }
    job::submit(env, tag, request, (route, false), timeout_ms)
}

/// `submit` for a large request: the copy runs on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn submit_large<'a>(
    env: Env<'a>,
    tag: Term<'a>,
    request: Term<'a>,
    route: Term<'a>,
    timeout_ms: Option<u64>,
) -> Term<'a> {
    job::submit(env, tag, request, (route, true), timeout_ms)
}

/// Stops a job (the caller timed out); no answer of it is sent after this returns.
#[rustler::nif]
fn cancel(res: ResourceArc<JobRes>) -> bool {
    job::cancel(res)
}
