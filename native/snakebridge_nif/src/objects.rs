//! The native handle behind `%SnakeBridge.Ref{}` and `%SnakeBridge.StreamRef{}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use once_cell::sync::Lazy;
use pyo3::prelude::*;
use rustler::types::atom::Atom;
use rustler::{Decoder, Encoder, Env, NifResult, ResourceArc, Term};

use crate::cleanup;
use crate::error::Error;
use crate::session::Session;
use crate::stream::StreamState;

rustler::atoms! {
    __struct__,
    ref_id,
    session_id,
    pool_name,
    stream_type,
    python_module,
    library,
    exhausted,
    batch,
    resource,
    id,
    type_name,
    nil,
    stream_ref_struct = "Elixir.SnakeBridge.StreamRef",
    ref_struct_name = "Elixir.SnakeBridge.Ref",
}

/// Where an object came from: copied into every Ref and StreamRef made from it.
#[derive(Clone)]
pub struct Ctx {
    pub session_id: String,
    pub pool_name: Option<String>,
    pub library: String,
    /// The session, when `SnakeBridge.Session.start/1` made it.
    pub session: Option<Arc<Session>>,
}

impl<'a> Decoder<'a> for Ctx {
    fn decode(term: Term<'a>) -> NifResult<Self> {
        let (session_id, pool, library): (String, Term<'a>, String) = term.decode()?;
        let pool_name = match pool.decode::<Atom>() {
            Ok(a) if a == nil() => None,
            Ok(a) => Some(a.to_term(term.get_env()).atom_to_string()?),
            Err(_) => Some(pool.decode::<String>()?),
        };
        let session = crate::session::lookup(&session_id);
        Ok(Ctx {
            session_id,
            pool_name,
            library,
            session,
        })
    }
}

pub struct ObjInner {
    pub id: u64,
    /// `None` once its session was released.
    obj: Mutex<Option<Py<PyAny>>>,
    pub ctx: Arc<Ctx>,
    pub stream: Option<StreamState>,
}

impl ObjInner {
    /// The object (a new reference: it stays valid whatever another thread releases).
    pub fn obj<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>, Error> {
        self.obj
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|o| o.bind(py).clone())
            .ok_or(Error::Released)
    }

    pub fn is_released(&self) -> bool {
        self.obj.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    /// Releases the object now (its session was released): a stream's iterator is
    /// closed, so a generator's `finally` runs. Later uses give `{:error, :released}`.
    pub fn release(&self, py: Python<'_>) {
        let Some(obj) = self.obj.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let aloop = self.stream.as_ref().and_then(|s| {
            // Another process may be inside next(): wait for it, detached.
            let mut buf = s.lock_attached(py, &|| false)?;
            buf.release()
        });
        cleanup::close_now(py, obj, self.stream.is_some(), aloop);
    }

    fn lane(&self) -> Option<&'static crate::pool::Pool> {
        self.ctx.session.as_ref().and_then(|s| s.lane())
    }
}

impl Drop for ObjInner {
    fn drop(&mut self) {
        // Runs wherever the BEAM collects the handle: never wait for the GIL here.
        let obj = self.obj.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        let stream = self.stream.take();
        if stream.is_some() {
            STREAMS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&token(self.id));
        }
        if let Some(obj) = obj {
            cleanup::release(obj, stream, self.lane());
        }
    }
}

/// The resource: several handles (a StreamRef found again by its wire id) share one object.
pub struct PyObj {
    pub inner: Arc<ObjInner>,
}

#[rustler::resource_impl]
impl rustler::Resource for PyObj {}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static STREAMS: Lazy<Mutex<HashMap<u128, Weak<ObjInner>>>> = Lazy::new(Default::default);
/// A secret of this boot of the node: ids in wire maps are a keyed hash of a counter, so
/// one id tells nothing about another (they cannot be guessed), and ids of earlier boots
/// match nothing.
static SECRET: Lazy<std::hash::RandomState> = Lazy::new(std::hash::RandomState::new);

/// The 128-bit public id of object number `n`.
pub fn token(n: u64) -> u128 {
    use std::hash::BuildHasher;
    let half = |part: u8| SECRET.hash_one((n, part)) as u128;
    (half(0) << 64) | half(1)
}

pub fn format_id(prefix: &str, n: u64) -> String {
    format!("{prefix}-{:032x}", token(n))
}

/// The token in a stream's `ref_id` (`sr-` and 32 lowercase hex digits).
pub fn parse_stream_id(s: &str) -> Option<u128> {
    let hex = s.strip_prefix("sr-")?;
    if hex.len() != 32
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u128::from_str_radix(hex, 16).ok()
}

pub fn new_object(obj: Py<PyAny>, ctx: Arc<Ctx>, stream: Option<StreamState>) -> Arc<ObjInner> {
    let is_stream = stream.is_some();
    let inner = Arc::new(ObjInner {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        obj: Mutex::new(Some(obj)),
        ctx,
        stream,
    });
    if let Some(session) = &inner.ctx.session {
        session.adopt(&inner);
    }
    if is_stream {
        STREAMS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token(inner.id), Arc::downgrade(&inner));
    }
    inner
}

pub fn lookup_stream(id: u128) -> Option<Arc<ObjInner>> {
    STREAMS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .and_then(Weak::upgrade)
}

pub fn live_streams() -> usize {
    STREAMS.lock().unwrap_or_else(|p| p.into_inner()).len()
}

fn pool_term<'a>(env: Env<'a>, ctx: &Ctx) -> Term<'a> {
    match &ctx.pool_name {
        Some(p) => Atom::from_str(env, p)
            .map(|a| a.encode(env))
            .unwrap_or_else(|_| p.encode(env)),
        None => nil().encode(env),
    }
}

/// `%SnakeBridge.StreamRef{}` for a stream object.
pub fn stream_struct<'a>(env: Env<'a>, inner: Arc<ObjInner>) -> Term<'a> {
    let stream = inner.stream.as_ref().expect("a stream object");
    let ctx = &inner.ctx;
    let keys = [
        __struct__().encode(env),
        ref_id().encode(env),
        session_id().encode(env),
        pool_name().encode(env),
        stream_type().encode(env),
        python_module().encode(env),
        library().encode(env),
        exhausted().encode(env),
        batch().encode(env),
        resource().encode(env),
    ];
    let values = [
        stream_ref_struct().encode(env),
        format_id("sr", inner.id).encode(env),
        ctx.session_id.encode(env),
        pool_term(env, ctx),
        stream.stream_type.as_str().encode(env),
        stream.python_module.encode(env),
        ctx.library.encode(env),
        // Never waits: a stream another process is inside shows false.
        stream.buf.try_lock().is_ok_and(|b| b.done()).encode(env),
        stream
            .batch
            .load(std::sync::atomic::Ordering::Relaxed)
            .encode(env),
        ResourceArc::new(PyObj {
            inner: inner.clone(),
        })
        .encode(env),
    ];
    Term::map_from_term_arrays(env, &keys, &values).expect("unique keys")
}

/// `%SnakeBridge.Ref{}` for any other object.
pub fn ref_struct<'a>(env: Env<'a>, inner: Arc<ObjInner>, tname: &str, module: &str) -> Term<'a> {
    let ctx = &inner.ctx;
    let keys = [
        __struct__().encode(env),
        id().encode(env),
        type_name().encode(env),
        python_module().encode(env),
        session_id().encode(env),
        library().encode(env),
        resource().encode(env),
    ];
    let values = [
        ref_struct_name().encode(env),
        format_id("ref", inner.id).encode(env),
        tname.encode(env),
        module.encode(env),
        ctx.session_id.encode(env),
        ctx.library.encode(env),
        ResourceArc::new(PyObj {
            inner: inner.clone(),
        })
        .encode(env),
    ];
    Term::map_from_term_arrays(env, &keys, &values).expect("unique keys")
}
