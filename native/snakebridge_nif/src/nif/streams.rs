//! StreamRefs read without Python, and `stream/5` producers.

use rustler::{Atom, Env, LocalPid, ResourceArc, Term};

use crate::objects::{self, PyObj};
use crate::producer::{self, StreamJob};
use crate::stream;

/// The next item when no Python is needed (pulled ahead, or the end); `:python`
/// otherwise, and then the caller asks a library thread.
#[rustler::nif]
fn stream_next_ready<'a>(env: Env<'a>, res: ResourceArc<PyObj>) -> Term<'a> {
    stream::next_ready(env, res)
}

/// The StreamRef behind a wire id, while the stream is alive on this node and belongs to
/// `session`.
#[rustler::nif]
fn stream_lookup<'a>(env: Env<'a>, id: String, session: String) -> Term<'a> {
    objects::lookup_stream_term(env, id, session)
}

/// Starts `module.function(*argv, **kwargs)` on a producer thread; it sends
/// `{tag, :chunks, [item]}` then `{tag, :done, :ok | {:error, reason}}` to `pid`.
/// Dirty: the arguments are copied for the producer, and they may be large.
#[rustler::nif(schedule = "DirtyCpu")]
#[allow(clippy::too_many_arguments)]
fn stream_start<'a>(
    env: Env<'a>,
    module: Term<'a>,
    function: Term<'a>,
    argv: Term<'a>,
    kwargs: Term<'a>,
    ctx: Term<'a>,
    pid: LocalPid,
    tag: Term<'a>,
    opts: (usize, usize, usize),
) -> Term<'a> {
    producer::start(env, (module, function, argv, kwargs), ctx, pid, tag, opts)
}

/// The caller took `n` batches: room for the producer.
#[rustler::nif]
fn stream_ack(res: ResourceArc<StreamJob>, n: usize) -> bool {
    producer::ack(res, n)
}

/// Stops the producer; with `watch`, `{tag, :finished}` follows once its iterator is
/// closed (`:finished` is returned when that has happened already).
#[rustler::nif]
fn stream_cancel(res: ResourceArc<StreamJob>, watch: bool) -> Atom {
    producer::cancel(res, watch)
}
