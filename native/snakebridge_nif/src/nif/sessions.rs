//! Sessions: a group of objects released together, optionally on one thread.

use rustler::{Env, LocalPid, ResourceArc, Term};

use crate::session;

/// Starts a session owned by `owner`; `{:ok, id}`.
#[rustler::nif]
fn session_start(env: Env<'_>, affinity: bool, owner: LocalPid) -> Term<'_> {
    session::start(env, affinity, owner)
}

/// Starts a session under a given id (a session of another node, on a pool worker).
#[rustler::nif]
fn session_start_as(env: Env<'_>, id: String, affinity: bool, owner: LocalPid) -> Term<'_> {
    session::start_as(env, Some(id), affinity, owner)
}

/// Closes session `id` (its work still running is stopped and answered
/// `{:error, :released}`) and releases its objects on its thread, then sends
/// `{tag, :released}` to the caller. False when no such session is open.
#[rustler::nif]
fn session_release<'a>(env: Env<'a>, id: String, tag: Term<'a>) -> bool {
    session::release(env, &id, env.pid(), tag)
}

/// A handle of this node for an object that lives on another node: when the BEAM
/// collects it, `note` is sent to `pid` (see `remote`).
#[rustler::nif]
fn remote_handle(pid: LocalPid, note: Term<'_>) -> ResourceArc<crate::remote::RemoteHandle> {
    crate::remote::make(pid, note)
}
