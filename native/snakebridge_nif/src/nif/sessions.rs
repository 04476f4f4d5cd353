//! Sessions: a group of objects released together, optionally on one thread.

use rustler::{Env, LocalPid, Term};

use crate::session;

/// Starts a session owned by `owner`; `{:ok, id}`.
#[rustler::nif]
fn session_start(env: Env<'_>, affinity: bool, owner: LocalPid) -> Term<'_> {
    session::start(env, affinity, owner)
}
