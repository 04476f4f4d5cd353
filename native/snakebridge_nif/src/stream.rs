//! Lazy iteration of Python iterators: detection, `next()` and batching.

use std::collections::VecDeque;
use std::sync::Mutex;

use pyo3::prelude::*;
use rustler::env::SavedTerm;
use rustler::{sys, Env, OwnedEnv, Term};

use std::sync::Arc;
use std::time::Instant;

use crate::atoms::python;
use crate::call::{ok_tuple, reply};
use crate::convert::ToTerm;
use crate::error::Error;
use crate::etf::Pushed;
use crate::objects::ObjInner;
use crate::objects::PyObj;
use rustler::{Encoder, ResourceArc};
use snakebridge_core::interrupt::Job;
use snakebridge_core::iter::StreamType;

/// Items of at most about this many bytes are copied out on a normal scheduler
/// (microseconds); bignums and long strings count by their size.
const LIGHT: usize = 64 * 1024;

pub struct StreamState {
    pub stream_type: StreamType,
    pub type_name: String,
    pub python_module: String,
    pub buf: Mutex<StreamBuf>,
    /// `buf.batch`, readable without the lock (a StreamRef made while another process
    /// is inside next() still shows the stream's batch).
    pub batch: std::sync::atomic::AtomicUsize,
}

/// What one stream holds between calls. Take this lock before attaching to Python, never
/// while attached: two processes on one generator would otherwise deadlock on the GIL.
pub struct StreamBuf {
    pub exhausted: bool,
    /// Items pulled per GIL acquisition (1: strictly lazy).
    pub batch: usize,
    /// Items pulled ahead (batching) or pushed back (a halted reduce), oldest first.
    /// With each item, about how many terms it holds (`usize::MAX`: not known).
    items: VecDeque<(SavedTerm, usize)>,
    env: Option<OwnedEnv>,
    /// An error raised while pulling ahead, given after the items before it.
    pending: Option<Error>,
    /// The event loop that drives an async generator, made on first use.
    pub aloop: Option<Py<PyAny>>,
    /// A timeout or cancel stopped the generator inside its own code: it is over, and
    /// later steps say so (`:stopped`) instead of a plain end.
    stopped: bool,
}

/// The module a generator's (or coroutine's) function is defined in, while it has a frame.
fn defined_in(obj: &Bound<'_, PyAny>) -> Option<String> {
    ["gi_frame", "ag_frame", "cr_frame"]
        .iter()
        .find_map(|attr| {
            let globals = obj.getattr(*attr).ok()?.getattr("f_globals").ok()?;
            globals.get_item("__name__").ok()?.extract().ok()
        })
}

impl StreamState {
    /// `maker`: the module of what made the stream, named when the iterator's own type
    /// is a builtin one (`generator`, `zip`, `map`, ...), which says nothing of its origin.
    pub fn new(obj: &Bound<'_, PyAny>, stream_type: StreamType, maker: &str) -> PyResult<Self> {
        let ty = obj.get_type();
        let module = ty.module()?.to_string();
        Ok(StreamState {
            stream_type,
            type_name: ty.name()?.to_string(),
            python_module: if module == "builtins" {
                defined_in(obj).unwrap_or_else(|| maker.to_string())
            } else {
                module
            },
            batch: std::sync::atomic::AtomicUsize::new(1),
            buf: Mutex::new(StreamBuf {
                exhausted: false,
                batch: 1,
                items: VecDeque::new(),
                env: None,
                pending: None,
                aloop: None,
                stopped: false,
            }),
        })
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, StreamBuf> {
        self.buf.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock, taken while attached: the GIL is let go while waiting, since the
    /// holder may be waiting for the GIL itself.
    /// `None` once `give_up` says so.
    pub fn lock_attached(
        &self,
        py: Python<'_>,
        give_up: &dyn Fn() -> bool,
    ) -> Option<std::sync::MutexGuard<'_, StreamBuf>> {
        let mut spins = 0u32;
        loop {
            if let Ok(guard) = self.buf.try_lock() {
                return Some(guard);
            }
            if give_up() {
                return None;
            }
            spins += 1;
            // The holder may be in a slow next(): back off instead of spinning.
            let pause = std::time::Duration::from_micros(if spins < 10 { 10 } else { 500 });
            py.detach(|| std::thread::sleep(pause));
        }
    }
}

impl StreamBuf {
    pub fn buffered(&self) -> usize {
        self.items.len()
    }

    /// Takes every buffered item out, in order, as terms of `env`.
    pub fn take_all<'a>(&mut self, env: Env<'a>) -> Vec<Term<'a>> {
        let mut out = Vec::with_capacity(self.items.len());
        let _ = self.drain_into(env, usize::MAX, &mut out);
        out.into_iter()
            // SAFETY: `drain_into` made these terms in `env`.
            .map(|t| unsafe { Term::new(env, t) })
            .collect()
    }

    /// The end was reached and every item was taken.
    pub fn done(&self) -> bool {
        self.exhausted && !self.has_buffered()
    }

    pub fn has_buffered(&self) -> bool {
        !self.items.is_empty() || self.pending.is_some()
    }

    /// Moves up to `max` buffered items into `out` (in `env`); an error pulled ahead comes
    /// out once the items before it are gone.
    pub fn drain_into<'a>(
        &mut self,
        env: Env<'a>,
        max: usize,
        out: &mut Vec<sys::ErlNifTerm>,
    ) -> Result<(), Error> {
        if let Some(owned) = &self.env {
            while out.len() < max {
                let Some((saved, _)) = self.items.pop_front() else {
                    break;
                };
                out.push(owned.run(|e| saved.load(e).in_env(env)).as_c_arg());
            }
        }
        if self.items.is_empty() {
            // Free the copies.
            self.env = None;
            if out.is_empty() {
                if let Some(err) = self.pending.take() {
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Puts items back in front (a reduce that stopped before using them).
    pub fn push_front(&mut self, terms: &[Term<'_>]) {
        let owned = self.env.get_or_insert_with(OwnedEnv::new);
        for t in terms.iter().rev() {
            let saved = owned.save(*t);
            self.items.push_front((saved, usize::MAX));
        }
    }

    fn save(&mut self, term: Term<'_>, weight: usize) {
        let owned = self.env.get_or_insert_with(OwnedEnv::new);
        let saved = owned.save(term);
        self.items.push_back((saved, weight));
    }

    /// Ends the stream for good (its session was released); the loop of an async
    /// generator is given back for closing.
    pub fn release(&mut self) -> Option<Py<PyAny>> {
        self.exhausted = true;
        self.items.clear();
        self.env = None;
        self.pending = None;
        self.aloop.take()
    }

    /// Whether the next item is small enough to copy on a normal scheduler.
    fn next_is_light(&self) -> bool {
        self.items.front().is_none_or(|(_, w)| *w <= LIGHT)
    }
}

/// Up to `max` items into `out`: first what is buffered, then from Python, pulling
/// `buf.batch` items at once and keeping what `max` leaves over. Runs attached, as `job`:
/// waiting for a stream that another process is inside ends at the deadline.
pub fn pull<'a>(
    py: Python<'_>,
    env: Env<'a>,
    inner: &ObjInner,
    max: usize,
    job: &Arc<Job>,
    deadline: Option<Instant>,
    out: &mut Vec<sys::ErlNifTerm>,
) -> Result<(), Error> {
    let stream = inner
        .stream
        .as_ref()
        .ok_or(Error::BadArg("not a stream".into()))?;
    let give_up = || job.stopped().is_some() || deadline.is_some_and(|at| Instant::now() >= at);
    let mut buf = stream
        .lock_attached(py, &give_up)
        .ok_or_else(|| job.stopped().unwrap_or(Error::Timeout))?;
    let obj = inner.obj(py)?;
    buf.drain_into(env, max, out)?;
    if out.is_empty() && buf.stopped && !buf.has_buffered() {
        return Err(Error::Stopped);
    }
    if out.len() >= max || buf.exhausted {
        return Ok(());
    }
    // No read-ahead under a deadline: an interrupt during read-ahead would kill the
    // generator after the asked-for items had arrived in time.
    let want = if deadline.is_some() {
        max - out.len()
    } else {
        (max - out.len()).max(buf.batch)
    };
    let buf = &mut *buf;
    let to_term = ToTerm::new(env, &inner.ctx);
    let mut got = 0;
    let mut placer = Placer {
        env,
        out,
        limit: max,
        run: crate::etf::Run::for_len(want),
        weights: Vec::new(),
    };
    let result = snakebridge_core::interrupt::run_job(py, job, deadline, |py| {
        while got < want {
            match snakebridge_core::iter::next_raw(py, &obj, stream.stream_type, &mut buf.aloop)? {
                None => {
                    buf.exhausted = true;
                    break;
                }
                Some(item) => {
                    // SAFETY: attached, and `item` is live.
                    match unsafe { placer.run.push(item.as_ptr()) } {
                        Pushed::Taken(weight) => {
                            to_term.count(weight);
                            placer.weights.push(weight);
                        }
                        Pushed::Declined(value) => {
                            placer.flush(buf);
                            let weight = value.weight();
                            placer.place(to_term.plain_term(value), weight, buf);
                        }
                        Pushed::Other => {
                            placer.flush(buf);
                            let before = to_term.bytes();
                            // SAFETY: `env` is the env the answer is built in, alive for 'a.
                            let term = unsafe { to_term.not_plain_term(&item)? };
                            placer.place(term, to_term.bytes() - before, buf);
                        }
                    }
                    got += 1;
                }
            }
        }
        Ok(())
    });
    // Items pulled before an error come before it.
    placer.flush(buf);
    if matches!(result, Err(Error::Timeout | Error::Cancelled))
        && snakebridge_core::iter::ended_inside(&obj, stream.stream_type)
    {
        // The interrupt was raised inside the generator's own code, which ended it: the
        // items it had not produced are gone, and later steps say so.
        buf.exhausted = true;
        buf.stopped = true;
    }
    match result {
        Ok(()) => Ok(()),
        // The deadline was this call's: the items it got are its answer.
        Err(Error::Timeout | Error::Cancelled) if got > 0 => Ok(()),
        // Items already pulled are delivered; the error comes after them.
        Err(e) if got > 0 => {
            buf.pending = Some(e);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Where `pull`'s items go, in order: to the answer until it holds `limit`, the rest to
/// the stream's buffer. Plain items wait in `run` and become terms together (see `etf`).
struct Placer<'a, 'o> {
    env: Env<'a>,
    out: &'o mut Vec<sys::ErlNifTerm>,
    limit: usize,
    run: crate::etf::Run,
    weights: Vec<usize>,
}

impl Placer<'_, '_> {
    fn place(&mut self, term: sys::ErlNifTerm, weight: usize, buf: &mut StreamBuf) {
        if self.out.len() < self.limit {
            self.out.push(term);
        } else {
            // SAFETY: `term` was made in `self.env`.
            buf.save(unsafe { Term::new(self.env, term) }, weight);
        }
    }

    /// The waiting plain items, placed before whatever comes next.
    fn flush(&mut self, buf: &mut StreamBuf) {
        if self.run.is_empty() {
            return;
        }
        let mut run = std::mem::take(&mut self.run);
        let weights = std::mem::take(&mut self.weights);
        let mut w = weights.iter();
        run.decode(self.env, |term| {
            self.place(term, *w.next().unwrap_or(&16), buf)
        });
        self.run = run;
        self.weights = weights;
        self.weights.clear();
    }
}

// ---------------------------------------------------------------- Python's view

/// What Python gets for a StreamRef passed as an argument: the same iterator, stepped
/// under the stream's own lock, so Python code and Elixir processes that share the stream
/// never take the same item twice or step it at once.
#[pyclass(name = "SnakeBridgeStream", module = "_snakebridge")]
pub struct LockedStream {
    inner: Arc<ObjInner>,
}

impl LockedStream {
    pub fn new(inner: Arc<ObjInner>) -> Self {
        LockedStream { inner }
    }

    pub fn inner(&self) -> Arc<ObjInner> {
        self.inner.clone()
    }
}

#[pymethods]
impl LockedStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let Some(stream) = self.inner.stream.as_ref() else {
            return Ok(None);
        };
        // Waits detached while an Elixir process is inside next() (never gives up).
        let Some(mut buf) = stream.lock_attached(py, &|| false) else {
            return Ok(None);
        };
        if buf.exhausted && !buf.has_buffered() {
            return Ok(None);
        }
        let obj = self
            .inner
            .obj(py)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        match snakebridge_core::iter::next_raw(py, &obj, stream.stream_type, &mut buf.aloop)? {
            Some(item) => Ok(Some(item.unbind())),
            None => {
                buf.exhausted = true;
                Ok(None)
            }
        }
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// `async for` over a StreamRef of an async generator: the generator's own
    /// `__anext__()`, awaited by the caller's loop (`collect_async` in
    /// guides/python-in-the-beam.md). Another process stepping it at the same moment gets
    /// Python's "already running" error.
    fn __anext__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let is_async = self
            .inner
            .stream
            .as_ref()
            .is_some_and(|s| s.stream_type == StreamType::AsyncGenerator);
        if !is_async {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "this stream is not an async generator: use a plain for loop",
            ));
        }
        let obj = self
            .inner
            .obj(py)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        Ok(obj.call_method0("__anext__")?.unbind())
    }

    fn __repr__(&self) -> String {
        let name = self
            .inner
            .stream
            .as_ref()
            .map_or("iterator", |s| s.type_name.as_str());
        format!("<SnakeBridge stream of a {name}>")
    }
}

// ---------------------------------------------------------------- operations

fn stream_of(res: &ResourceArc<PyObj>) -> Result<&StreamState, Error> {
    res.inner
        .stream
        .as_ref()
        .ok_or_else(|| Error::BadArg("not a stream".into()))
}

/// The stream's lock, taken attached; `Err` when the job is stopped while it waits.
pub fn locked<'s>(
    py: Python<'_>,
    stream: &'s StreamState,
    job: &Job,
) -> Result<std::sync::MutexGuard<'s, StreamBuf>, Error> {
    stream
        .lock_attached(py, &|| job.stopped().is_some())
        .ok_or_else(|| job.stopped().unwrap_or(Error::Cancelled))
}

/// `{:ok, item}`, `{:error, :stop_iteration}` (without touching Python once exhausted), or
/// `{:error, reason}`.
pub fn next<'a>(
    py: Python<'_>,
    env: Env<'a>,
    res: ResourceArc<PyObj>,
    job: &Arc<Job>,
    deadline: Option<Instant>,
) -> Result<Term<'a>, Error> {
    let mut out = Vec::with_capacity(1);
    pull(py, env, &res.inner, 1, job, deadline, &mut out)?;
    let item = out.pop().ok_or(Error::StopIteration)?;
    // SAFETY: `pull` made the item in `env`.
    Ok(ok_tuple(env, unsafe { Term::new(env, item) }))
}

/// `{:ok, [item, ...]}` with 1..max items (max 0: the stream's own batch size), or
/// `{:error, :stop_iteration}` / `{:error, reason}`.
pub fn next_batch<'a>(
    py: Python<'_>,
    env: Env<'a>,
    (res, max): (ResourceArc<PyObj>, usize),
    job: &Arc<Job>,
    deadline: Option<Instant>,
) -> Result<Term<'a>, Error> {
    let stream = stream_of(&res)?;
    let max = if max == 0 {
        locked(py, stream, job)?.batch
    } else {
        max
    };
    let mut out = Vec::with_capacity(max.min(65_536));
    pull(py, env, &res.inner, max, job, deadline, &mut out)?;
    if out.is_empty() {
        return Err(Error::StopIteration);
    }
    // SAFETY: every element of `out` was made in `env` by `pull`.
    let list = unsafe { Term::new(env, crate::enif::list(env, &out)) };
    Ok(ok_tuple(env, list))
}

/// Gives items back to the front of the stream: no Python involved.
pub fn push_front<'a>(
    py: Python<'_>,
    env: Env<'a>,
    (res, items): (ResourceArc<PyObj>, Vec<Term<'a>>),
    job: &Job,
) -> Result<Term<'a>, Error> {
    locked(py, stream_of(&res)?, job)?.push_front(&items);
    Ok(ok_tuple(env, true.encode(env)))
}

pub fn set_batch<'a>(
    py: Python<'_>,
    env: Env<'a>,
    (res, batch): (ResourceArc<PyObj>, usize),
    job: &Job,
) -> Result<Term<'a>, Error> {
    let stream = stream_of(&res)?;
    locked(py, stream, job)?.batch = batch.max(1);
    stream
        .batch
        .store(batch.max(1), std::sync::atomic::Ordering::Relaxed);
    Ok(ok_tuple(env, true.encode(env)))
}

/// `{type_name, exhausted?, batch}`: what the wire format and Inspect show.
pub fn info<'a>(
    py: Python<'_>,
    env: Env<'a>,
    res: ResourceArc<PyObj>,
    job: &Job,
) -> Result<Term<'a>, Error> {
    let stream = stream_of(&res)?;
    let buf = locked(py, stream, job)?;
    let done = buf.exhausted && !buf.has_buffered();
    Ok(ok_tuple(
        env,
        (stream.type_name.as_str(), done, buf.batch).encode(env),
    ))
}

/// The next item when no Python is needed: an item pulled ahead, an error pulled ahead,
/// or the end. `:python` otherwise (or while another process holds the stream): then the
/// caller asks a library thread. Saves a thread hand-off per buffered item.
pub fn next_ready<'a>(env: Env<'a>, res: ResourceArc<PyObj>) -> Term<'a> {
    let Ok(stream) = stream_of(&res) else {
        return python().encode(env);
    };
    let Ok(mut buf) = stream.buf.try_lock() else {
        return python().encode(env);
    };
    // A large item is copied on a library thread instead.
    if (!buf.has_buffered() && !buf.exhausted)
        || !buf.next_is_light()
        || res.inner.is_released()
        || buf.stopped
    {
        return python().encode(env);
    }
    let mut out = Vec::with_capacity(1);
    let result = buf
        .drain_into(env, 1, &mut out)
        .and_then(|()| out.pop().ok_or(Error::StopIteration))
        // SAFETY: `drain_into` made the item in `env`.
        .map(|t| unsafe { Term::new(env, t) });
    reply(env, result)
}
