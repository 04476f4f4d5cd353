//! The native handle behind `%SnakeBridge.Ref{}` and `%SnakeBridge.StreamRef{}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use once_cell::sync::Lazy;
use pyo3::prelude::*;
use rustler::types::atom::Atom;
use rustler::{Decoder, Encoder, Env, NifResult, NifStruct, ResourceArc, Term};

use crate::atoms::nil;
use crate::atoms::unknown_stream;
use crate::call::ok_tuple;
use crate::error::Error;
use crate::session::Session;
use crate::stream::StreamState;
use snakebridge_core::ids::token;
use snakebridge_core::ids::{format_id, parse_stream_id};
use snakebridge_core::janitor::{self, Work};
use snakebridge_core::threads::Threads;

/// Where an object came from: copied into every Ref and StreamRef made from it.
#[derive(Clone)]
pub struct Ctx {
    pub session_id: String,
    pub pool_name: Option<String>,
    pub library: String,
    /// The session, when `SnakeBridge.Session.start/1` made it.
    pub session: Option<Arc<Session>>,
    /// `__runtime__: [arrays: ...]`: numeric buffers come back as `%SnakeBridge.Array{}`.
    pub arrays: Arrays,
}

/// Whether objects with a numeric buffer become `%SnakeBridge.Array{}` (`Strict`: and an
/// object without one is an error, for `SnakeBridge.Array.from_ref/2`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arrays {
    Off,
    On,
    Strict,
}

/// `%SnakeBridge.Context{}`, as Elixir sends it.
#[derive(NifStruct)]
#[module = "SnakeBridge.Context"]
struct ContextStruct<'a> {
    session_id: String,
    pool: Term<'a>,
    library: String,
    arrays: Term<'a>,
}

impl<'a> Decoder<'a> for Ctx {
    fn decode(term: Term<'a>) -> NifResult<Self> {
        let ContextStruct {
            session_id,
            pool,
            library,
            arrays,
        } = term.decode()?;
        let arrays = match arrays.decode::<Atom>()? {
            a if a == rustler::types::atom::true_() => Arrays::On,
            a if a == crate::atoms::strict() => Arrays::Strict,
            _ => Arrays::Off,
        };
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
            arrays,
        })
    }
}

/// The object a request works on: its resource, or the `%Ref{}`/`%StreamRef{}` holding
/// it (a ref of another node is sent whole, so its handle lives as long as the request).
pub struct Obj(pub ResourceArc<PyObj>);

impl<'a> Decoder<'a> for Obj {
    fn decode(term: Term<'a>) -> NifResult<Self> {
        if let Ok(res) = term.decode::<ResourceArc<PyObj>>() {
            return Ok(Obj(res));
        }
        let res = term.map_get(crate::atoms::resource().encode(term.get_env()))?;
        Ok(Obj(res.decode()?))
    }
}

impl Encoder for Obj {
    fn encode<'b>(&self, env: Env<'b>) -> Term<'b> {
        self.0.encode(env)
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
        janitor::close_now(py, obj, self.stream.is_some(), aloop);
    }

    fn lane(&self) -> Option<&'static Threads> {
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
                .remove(&token("sr", self.id));
        }
        if let Some(obj) = obj {
            janitor::queue(release_work(obj, stream), self.lane());
        }
    }
}

/// How to let go of an object: a stream that has not ended is closed, so a generator's
/// `finally` runs.
fn release_work(obj: Py<PyAny>, stream: Option<StreamState>) -> Vec<Work> {
    let Some(stream) = stream else {
        return vec![Work::Release(obj)];
    };
    let buf = stream.buf.into_inner().unwrap_or_else(|p| p.into_inner());
    match buf.aloop {
        _ if !buf.exhausted => vec![Work::Close(obj, buf.aloop)],
        Some(aloop) => vec![Work::Release(obj), Work::Close(aloop, None)],
        None => vec![Work::Release(obj)],
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
            .insert(token("sr", inner.id), Arc::downgrade(&inner));
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

/// `%SnakeBridge.StreamRef{}`: what Elixir holds for a stream object.
#[derive(NifStruct)]
#[module = "SnakeBridge.StreamRef"]
struct StreamRefStruct<'a> {
    ref_id: String,
    session_id: String,
    pool_name: Term<'a>,
    stream_type: String,
    type_name: String,
    python_module: String,
    library: String,
    exhausted: bool,
    batch: usize,
    resource: ResourceArc<PyObj>,
    /// Set by Elixir on the node that holds a ref of another node (a pool worker).
    handle: Term<'a>,
}

/// `%SnakeBridge.Ref{}`: what Elixir holds for any other object.
#[derive(NifStruct)]
#[module = "SnakeBridge.Ref"]
struct RefStruct<'a> {
    id: String,
    type_name: String,
    python_module: String,
    session_id: String,
    pool_name: Term<'a>,
    library: String,
    resource: ResourceArc<PyObj>,
    /// Set by Elixir on the node that holds a ref of another node (a pool worker).
    handle: Term<'a>,
}

/// `%SnakeBridge.StreamRef{}` for a stream object.
pub fn stream_struct<'a>(env: Env<'a>, inner: Arc<ObjInner>) -> Term<'a> {
    let stream = inner.stream.as_ref().expect("a stream object");
    let ctx = &inner.ctx;
    StreamRefStruct {
        ref_id: format_id("sr", inner.id),
        session_id: ctx.session_id.clone(),
        pool_name: pool_term(env, ctx),
        stream_type: stream.stream_type.as_str().into(),
        type_name: stream.type_name.clone(),
        python_module: stream.python_module.clone(),
        library: ctx.library.clone(),
        // Never waits: a stream another process is inside shows false.
        exhausted: stream.buf.try_lock().is_ok_and(|b| b.done()),
        batch: stream.batch.load(std::sync::atomic::Ordering::Relaxed),
        resource: ResourceArc::new(PyObj {
            inner: inner.clone(),
        }),
        handle: nil().encode(env),
    }
    .encode(env)
}

/// `%SnakeBridge.Ref{}` for any other object.
pub fn ref_struct<'a>(env: Env<'a>, inner: Arc<ObjInner>, tname: &str, module: &str) -> Term<'a> {
    let ctx = &inner.ctx;
    RefStruct {
        id: format_id("ref", inner.id),
        type_name: tname.into(),
        python_module: module.into(),
        session_id: ctx.session_id.clone(),
        pool_name: pool_term(env, ctx),
        library: ctx.library.clone(),
        resource: ResourceArc::new(PyObj {
            inner: inner.clone(),
        }),
        handle: nil().encode(env),
    }
    .encode(env)
}

/// The StreamRef behind a wire id, while the stream is alive on this node and belongs to
/// `session` (a wire map is honoured only for its own session).
pub fn lookup_stream_term<'a>(env: Env<'a>, id: String, session: String) -> Term<'a> {
    let found = parse_stream_id(&id)
        .and_then(lookup_stream)
        .filter(|inner| inner.ctx.session_id == session)
        .map(|inner| stream_struct(env, inner));
    match found {
        Some(t) => ok_tuple(env, t),
        None => (crate::atoms::error(), unknown_stream()).encode(env),
    }
}
