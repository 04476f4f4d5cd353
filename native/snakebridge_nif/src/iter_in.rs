//! Elixir enumerables read by Python (`SnakeBridge.iter/2`): a `%SnakeBridge.Iter{}`
//! becomes a `snakebridge.ElixirIterator` (items) or a `snakebridge.ElixirFile` (a
//! read-only binary file over a stream of binaries; `mode: :text` wraps it in
//! `io.TextIOWrapper`).
//!
//! Built on the Elixir calls of elixir_calls.rs. Python's first request is a callback
//! message (`{tag, :callback, id, python, [iter]}`, routed like any Elixir function
//! Python calls: the caller, a pool worker's caller, or the sink); the process that runs
//! it becomes the *producer*: it answers with `Native.callback_reply(id, ...)` once per
//! batch (`{:ok, {:"$snakebridge_iter", pid, items, more?}}`), then waits for
//! `{:"$snakebridge_iter", :next}` or `:halt`, sent by the Python thread to its pid (a
//! producer of another node gets them through the sink). Replies for `id` are queued on
//! a `Channel`; the Python thread waits for one detached, running its pool's queued work
//! meanwhile, stoppable by its job (the same wait as an Elixir function's).
//!
//! Binaries are never copied on the way in: a batch's env holds them (reference-counted
//! binaries), and `ElixirFile` copies bytes once, into what Python reads.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use pyo3::exceptions::{PyRuntimeError, PyTimeoutError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyModule};
use rustler::env::SavedTerm;
use rustler::{Binary, Encoder, Env, ListIterator, LocalPid, OwnedEnv, Term};

use crate::atoms::{callback, ok, snakebridge_callback};
use crate::convert;
use crate::elixir_calls::{self, ElixirError};
use crate::output;
use snakebridge_core::interrupt;
use snakebridge_core::threads::Threads;

rustler::atoms! {
    iter_tag = "$snakebridge_iter",
    next,
    halt,
    send,
    batch,
    mode,
    timeout,
    encoding,
    newline,
    ahead,
    python,
    items,
    text,
}

// ---------------------------------------------------------------- replies

/// The replies of one producer, in order, for the Python thread that pulls.
#[derive(Default)]
struct Channel {
    replies: Mutex<VecDeque<(OwnedEnv, SavedTerm)>>,
    cv: Condvar,
}

static CHANNELS: Lazy<Mutex<HashMap<u64, Arc<Channel>>>> = Lazy::new(Default::default);

fn channels() -> MutexGuard<'static, HashMap<u64, Arc<Channel>>> {
    CHANNELS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A reply for `id` (from `Native.callback_reply/2`, when no Elixir function call waits
/// for that id). False when no iterator waits for it any more: the producer then halts.
pub fn reply(id: u64, result: Term<'_>) -> bool {
    let Some(chan) = channels().get(&id).cloned() else {
        return false;
    };
    let env = OwnedEnv::new();
    let saved = env.save(result);
    chan.replies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push_back((env, saved));
    chan.cv.notify_all();
    true
}

// ---------------------------------------------------------------- the source

enum Producer {
    /// Python has not asked yet.
    NotStarted,
    /// The start was sent; its process answers with its pid.
    Starting,
    Local(LocalPid),
    /// A pid of another node (the caller's, for a pool worker): reached through the sink.
    Remote(OwnedEnv, SavedTerm),
    /// Exhausted, failed, halted or stopped: nothing more comes.
    Ended,
}

/// What a `%SnakeBridge.Iter{}` said, and the state of its producer.
struct Source {
    id: u64,
    chan: Arc<Channel>,
    /// The struct (sent with the start) and its `python` function, in `spec.0`.
    spec: (OwnedEnv, SavedTerm, SavedTerm),
    producer: Producer,
    /// Requests (the start, `:next`s) whose replies are not taken yet.
    asked: usize,
    /// Batches asked for ahead of Python's need, so the producer works while Python
    /// uses a batch (see `to_py`).
    ahead: usize,
    timeout: Option<Duration>,
}

/// A batch: the items, as a list term of their own env.
struct Batch {
    env: OwnedEnv,
    items: SavedTerm,
}

enum Reply {
    Batch(Batch),
    /// The producer's process ended without a batch: `{:ok, :halted}` (halted at the end
    /// of its call), or whatever the callback returned.
    Ended,
    Failed(String),
}

impl Source {
    fn new(iter: Term<'_>, ahead: usize, timeout: Option<Duration>) -> PyResult<Source> {
        let env = iter.get_env();
        let fun = iter
            .map_get(python().encode(env))
            .ok()
            .filter(|f| f.is_fun())
            .ok_or_else(|| PyTypeError::new_err("a %SnakeBridge.Iter{} without its function"))?;
        let owned = OwnedEnv::new();
        let (spec, fun) = (owned.save(iter), owned.save(fun));
        let id = elixir_calls::next_id();
        let chan = Arc::new(Channel::default());
        channels().insert(id, chan.clone());
        Ok(Source {
            id,
            chan,
            spec: (owned, spec, fun),
            producer: Producer::NotStarted,
            asked: 0,
            ahead,
            timeout,
        })
    }

    /// The next batch, or `None` once the enumerable ended. An error ends the source.
    fn pull(&mut self, py: Python<'_>) -> PyResult<Option<Batch>> {
        if matches!(self.producer, Producer::Ended) {
            return Ok(None);
        }
        if self.asked == 0 {
            self.ask()?;
        }
        let reply = match self.wait(py) {
            Ok(reply) => reply,
            Err(e) => {
                self.halt();
                return Err(e);
            }
        };
        self.asked -= 1;
        match self.decode(reply) {
            Reply::Batch(batch) => {
                // The producer makes the next batches while Python uses this one.
                while self.asked < self.ahead && !self.ended() && self.tell(next()) {
                    self.asked += 1;
                }
                Ok(Some(batch))
            }
            Reply::Ended => {
                self.producer = Producer::Ended;
                Err(PyRuntimeError::new_err(
                    "SnakeBridge.iter: the Elixir enumerable was stopped (the call it was given to has ended)",
                ))
            }
            Reply::Failed(message) => {
                self.producer = Producer::Ended;
                Err(ElixirError::new_err(message))
            }
        }
    }

    /// A reply taken from the channel; learns the producer's pid and whether it has more.
    fn decode(&mut self, (env, reply): (OwnedEnv, SavedTerm)) -> Reply {
        let decoded = env.run(|e| {
            let Ok((status, value)) = reply.load(e).decode::<(rustler::Atom, Term)>() else {
                return Err("a malformed reply of the Elixir side".to_string());
            };
            if status != ok() {
                return Err(value
                    .decode::<String>()
                    .unwrap_or_else(|_| format!("{value:?}")));
            }
            match value.decode::<(rustler::Atom, Term, Term, bool)>() {
                Ok((tag, pid, items, more)) if tag == iter_tag() => {
                    let producer = match pid.decode::<LocalPid>() {
                        Ok(pid) => Producer::Local(pid),
                        Err(_) => {
                            let owned = OwnedEnv::new();
                            let saved = owned.save(pid);
                            Producer::Remote(owned, saved)
                        }
                    };
                    Ok(Some((producer, env.save(items), more)))
                }
                _ => Ok(None),
            }
        });
        match decoded {
            Err(message) => Reply::Failed(message),
            Ok(None) => Reply::Ended,
            Ok(Some((producer, items, more))) => {
                if matches!(self.producer, Producer::Starting) {
                    self.producer = producer;
                }
                if !more {
                    self.producer = Producer::Ended;
                }
                Reply::Batch(Batch { env, items })
            }
        }
    }

    /// Sends the start, or `:next` to the producer.
    fn ask(&mut self) -> PyResult<()> {
        let sent = match &self.producer {
            Producer::NotStarted => {
                let sent = self.start();
                if sent {
                    self.producer = Producer::Starting;
                }
                sent
            }
            Producer::Starting => true,
            Producer::Local(_) | Producer::Remote(..) => self.tell(next()),
            Producer::Ended => true,
        };
        if !sent {
            // A producer that ended may have answered already (its last reply is queued).
            if !self
                .chan
                .replies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
            {
                self.asked += 1;
                return Ok(());
            }
            self.producer = Producer::Ended;
            return Err(PyRuntimeError::new_err(
                "SnakeBridge.iter: the Elixir enumerable cannot run (the call it was given to has ended, or SnakeBridge is not running)",
            ));
        }
        self.asked += 1;
        Ok(())
    }

    /// The start, as an Elixir function call: to the caller of the job on this thread,
    /// else to the sink.
    fn start(&self) -> bool {
        let id = self.id;
        match output::to_caller(&mut |e, tag| {
            let (fun, args) = self.terms(e);
            (tag, callback(), id, fun, args).encode(e)
        }) {
            Some(sent) => sent,
            None => output::sink().is_some_and(|pid| {
                let mut msg = OwnedEnv::new();
                msg.send_and_clear(&pid, |e| {
                    let (fun, args) = self.terms(e);
                    (snakebridge_callback(), id, fun, args).encode(e)
                })
                .is_ok()
            }),
        }
    }

    /// The `python` function and its arguments (`[iter]`), as terms of `e`.
    fn terms<'e>(&self, e: Env<'e>) -> (Term<'e>, Vec<Term<'e>>) {
        let (owned, spec, fun) = &self.spec;
        owned.run(|o| (fun.load(o).in_env(e), vec![spec.load(o).in_env(e)]))
    }

    /// Sends `{:"$snakebridge_iter", what}` to the producer. False if it cannot be sent
    /// (the process is gone).
    fn tell(&self, what: rustler::Atom) -> bool {
        // A destructor may run anywhere; a BEAM thread cannot send this way.
        if rustler::thread::is_scheduler_thread() {
            return false;
        }
        let mut msg = OwnedEnv::new();
        match &self.producer {
            Producer::Local(pid) => msg
                .send_and_clear(pid, |e| (iter_tag(), what).encode(e))
                .is_ok(),
            // `python({:send, pid, message})`, run by the sink of this node.
            Producer::Remote(penv, pid) => output::sink().is_some_and(|sink| {
                let (owned, _, fun) = &self.spec;
                msg.send_and_clear(&sink, |e| {
                    let fun = owned.run(|o| fun.load(o).in_env(e));
                    let pid = penv.run(|p| pid.load(p).in_env(e));
                    let args = vec![(send(), pid, (iter_tag(), what)).encode(e)];
                    (snakebridge_callback(), 0u64, fun, args).encode(e)
                })
                .is_ok()
            }),
            _ => false,
        }
    }

    /// Python stopped: the enumerable is halted (its cleanup runs) and nothing more comes.
    fn halt(&mut self) {
        if matches!(self.producer, Producer::Local(_) | Producer::Remote(..)) {
            self.tell(halt());
        }
        // A producer still starting halts itself: its first reply finds nobody waiting.
        channels().remove(&self.id);
        self.producer = Producer::Ended;
    }

    /// Waits for a reply, detached; stoppable by the job of this thread, and bounded by
    /// the timeout. Meanwhile this thread runs work queued on its own pool (an enumerable
    /// that calls back into Python).
    fn wait(&self, py: Python<'_>) -> PyResult<(OwnedEnv, SavedTerm)> {
        if let Some(reply) = self.take() {
            return Ok(reply);
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let threads: Option<&'static Threads> = Threads::current();
        let job = interrupt::current();
        let _suspended = interrupt::Suspended::current(py);
        loop {
            if let Some(reply) = self.take() {
                return Ok(reply);
            }
            if let Some(stopped) = job.as_ref().and_then(|j| j.stopped()) {
                let message = format!("stopped while waiting for an Elixir enumerable: {stopped}");
                return Err(match snakebridge_core::interpreter::interrupt_type(py) {
                    Some(t) => PyErr::from_type(t.clone(), message),
                    None => PyRuntimeError::new_err(message),
                });
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(PyTimeoutError::new_err(format!(
                    "SnakeBridge.iter: no items from the Elixir enumerable within {} ms",
                    self.timeout.unwrap_or_default().as_millis()
                )));
            }
            if threads.is_some_and(|t| t.run_one(py)) {
                continue;
            }
            let wait = deadline.map_or(STEP, |d| (d - now).min(STEP));
            let chan = &self.chan;
            py.detach(|| {
                let replies = chan.replies.lock().unwrap_or_else(|p| p.into_inner());
                if replies.is_empty() {
                    let _ = chan.cv.wait_timeout(replies, wait);
                }
            });
        }
    }

    fn take(&self) -> Option<(OwnedEnv, SavedTerm)> {
        self.chan
            .replies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    fn ended(&self) -> bool {
        matches!(self.producer, Producer::Ended)
    }
}

/// How often a wait looks at its job's stop.
const STEP: Duration = Duration::from_millis(5);

impl Drop for Source {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Locks an object's state for one operation: a second thread using the same object at
/// the same time gets an error (as a running generator does), never a wait.
fn lock<T>(m: &Mutex<T>) -> PyResult<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Ok(g),
        Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        Err(TryLockError::WouldBlock) => Err(PyValueError::new_err(
            "an Elixir iterator or file used by two threads at once",
        )),
    }
}

// ---------------------------------------------------------------- from a term

/// The Python object for a `%SnakeBridge.Iter{}` (convert.rs calls this by struct name).
pub fn to_py<'py>(py: Python<'py>, iter: Term<'_>) -> PyResult<Bound<'py, PyAny>> {
    let env = iter.get_env();
    let field = |name: rustler::Atom| {
        iter.map_get(name.encode(env))
            .map_err(|_| PyTypeError::new_err("a malformed %SnakeBridge.Iter{}"))
    };
    let bad = |what: &str| PyTypeError::new_err(format!("%SnakeBridge.Iter{{}}: bad {what}"));
    // Milliseconds, :infinity, or nil (the callback timeout).
    let t = field(timeout())?;
    let timeout = match t.decode::<u64>() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) if t.atom_to_string().is_ok_and(|a| a == "infinity") => None,
        Err(_) => Some(elixir_calls::timeout()),
    };
    let kind: rustler::Atom = field(mode())?.decode().map_err(|_| bad("mode"))?;
    // Batches asked for ahead (the Elixir side chose the default).
    let ahead: usize = field(ahead())?.decode().map_err(|_| bad("ahead"))?;
    let source = Source::new(iter, ahead, timeout)?;
    if kind == items() {
        return Ok(Bound::new(
            py,
            PyIter {
                state: Mutex::new(IterState {
                    source,
                    items: VecDeque::new(),
                }),
            },
        )?
        .into_any());
    }
    let file = Bound::new(py, PyFile::new(source))?.into_any();
    if kind != text() {
        return Ok(file);
    }
    let encoding: String = field(encoding())?.decode().map_err(|_| bad("encoding"))?;
    let newline: Option<String> = field(newline())?.decode().map_err(|_| bad("newline"))?;
    py.import("io")?.getattr("TextIOWrapper")?.call1((
        file,
        encoding,
        pyo3::types::PyNone::get(py),
        newline,
    ))
}

// ---------------------------------------------------------------- ElixirIterator

struct IterState {
    source: Source,
    items: VecDeque<Py<PyAny>>,
}

impl IterState {
    fn next(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(item) = self.items.pop_front() {
                return Ok(Some(item));
            }
            let Some(batch) = self.source.pull(py)? else {
                return Ok(None);
            };
            if let Err(e) = self.convert(py, &batch) {
                self.source.halt();
                return Err(e);
            }
        }
    }

    fn convert(&mut self, py: Python<'_>, batch: &Batch) -> PyResult<()> {
        batch.env.run(|e| {
            let list = batch.items.load(e);
            let iter: ListIterator = list
                .decode()
                .map_err(|_| PyTypeError::new_err("a batch that is not a list"))?;
            for term in iter {
                match convert::to_py(py, term, false) {
                    Ok(obj) => self.items.push_back(obj.unbind()),
                    Err(err) => {
                        return Err(match err.into_result(e) {
                            Ok(why) => PyTypeError::new_err(format!(
                                "SnakeBridge.iter: an item has no Python value: {why:?}"
                            )),
                            Err(err) => PyRuntimeError::new_err(err.to_string()),
                        })
                    }
                }
            }
            Ok(())
        })
    }
}

/// An Elixir enumerable, in Python: an iterator (also `async for`).
#[pyclass(name = "ElixirIterator", module = "snakebridge", frozen)]
pub struct PyIter {
    state: Mutex<IterState>,
}

#[pymethods]
impl PyIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        lock(&self.state)?.next(py)
    }

    /// Stops iterating: the enumerable is halted (its cleanup runs).
    fn close(&self) -> PyResult<()> {
        let mut state = lock(&self.state)?;
        state.items.clear();
        state.source.halt();
        Ok(())
    }

    /// `async for`: the producer starts now, on the thread of the call (its caller
    /// gets the start); each wait for a batch runs in the event loop's executor.
    fn __aiter__(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        {
            let mut state = lock(&slf.get().state)?;
            if matches!(state.source.producer, Producer::NotStarted) {
                state.source.ask()?;
            }
        }
        let _ = py;
        Ok(slf)
    }

    fn __anext__(slf: Py<Self>, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        helpers(py)?.getattr("anext")?.call1((slf,))
    }

    /// For `anext`: an item is here (or the end), so `next` will not wait.
    fn _ready(&self) -> bool {
        match self.state.try_lock() {
            Ok(s) => !s.items.is_empty() || s.source.ended(),
            Err(_) => false,
        }
    }

    fn __repr__(&self) -> String {
        "<snakebridge.ElixirIterator>".into()
    }
}

/// `iter_in.py` (`async for`), loaded once.
fn helpers(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static HELPERS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    HELPERS
        .get_or_try_init(py, || {
            let code =
                std::ffi::CString::new(include_str!("iter_in.py")).expect("no NUL in iter_in.py");
            PyModule::from_code(py, &code, c"snakebridge/iter_in.py", c"snakebridge._iter")
                .map(Bound::unbind)
        })
        .map(|m| m.bind(py))
}

// ---------------------------------------------------------------- ElixirFile

/// Bytes of a binary that an env of `FileState::envs` holds.
struct Chunk {
    data: *const u8,
    len: usize,
    pos: usize,
}

// SAFETY: `data` points at the bytes of a binary term held by an env of the same
// `FileState` (a reference-counted binary, or one on the env's own heap), which is
// dropped only once the chunk is consumed (see `FileState::envs`). The bytes never
// change and are only read.
unsafe impl Send for Chunk {}

impl Chunk {
    fn rest(&self) -> &[u8] {
        // SAFETY: see `Send` above: `len` bytes at `data`, alive while its env is.
        unsafe { std::slice::from_raw_parts(self.data.add(self.pos), self.len - self.pos) }
    }
}

struct FileState {
    source: Source,
    chunks: VecDeque<Chunk>,
    /// The env of each batch with chunks left, and how many: the chunks are consumed in
    /// order, so the front env goes with the front chunks.
    envs: VecDeque<(Arc<Mutex<OwnedEnv>>, usize)>,
    buffered: usize,
    closed: bool,
}

impl FileState {
    fn open(&self) -> PyResult<()> {
        if self.closed {
            return Err(PyValueError::new_err("I/O operation on closed file."));
        }
        Ok(())
    }

    /// One more batch of chunks; false at the end.
    fn fill(&mut self, py: Python<'_>) -> PyResult<bool> {
        let Some(batch) = self.source.pull(py)? else {
            return Ok(false);
        };
        let Batch { env, items } = batch;
        let mut chunks = Vec::new();
        env.run(|e| -> PyResult<()> {
            let iter: ListIterator = items
                .load(e)
                .decode()
                .map_err(|_| PyTypeError::new_err("a batch that is not a list"))?;
            for term in iter {
                let bin = Binary::from_term(term).map_err(|_| {
                    PyTypeError::new_err("SnakeBridge.iter: an item is not a binary")
                })?;
                let s = bin.as_slice();
                if !s.is_empty() {
                    chunks.push((s.as_ptr(), s.len()));
                }
            }
            Ok(())
        })?;
        if !chunks.is_empty() {
            self.envs
                .push_back((Arc::new(Mutex::new(env)), chunks.len()));
        }
        for (data, len) in chunks {
            self.buffered += len;
            self.chunks.push_back(Chunk { data, len, pos: 0 });
        }
        Ok(true)
    }

    /// A chunk was consumed: its batch's env goes with the batch's last chunk.
    fn consumed(&mut self) {
        if let Some((_, left)) = self.envs.front_mut() {
            *left -= 1;
            if *left == 0 {
                self.envs.pop_front();
            }
        }
    }

    /// The next chunk's rest, shared (not copied): a read-only `ElixirBytes` over the
    /// binary, which holds the batch's env. Empty at the end.
    fn chunk<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, SharedBytes>>> {
        if !self.some(py)? {
            return Ok(None);
        }
        let chunk = self.chunks.pop_front().expect("buffered > 0");
        let env = self.envs.front().expect("a chunk's env").0.clone();
        let len = chunk.len - chunk.pos;
        self.buffered -= len;
        self.consumed();
        Bound::new(
            py,
            SharedBytes {
                _env: env,
                // SAFETY: `pos` <= `len`: within the binary's bytes.
                data: unsafe { chunk.data.add(chunk.pos) },
                len,
            },
        )
        .map(Some)
    }

    /// Fills until something is buffered (a batch may bring only empty binaries); false
    /// at the end.
    fn some(&mut self, py: Python<'_>) -> PyResult<bool> {
        while self.buffered == 0 {
            if !self.fill(py)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Fills until `want` bytes are buffered or the stream ended.
    fn fill_to(&mut self, py: Python<'_>, want: usize) -> PyResult<()> {
        while self.buffered < want && self.fill(py)? {}
        Ok(())
    }

    /// Copies `n` buffered bytes into `out` (`n` <= buffered).
    fn copy_out(&mut self, mut out: &mut [u8]) {
        while !out.is_empty() {
            let chunk = self.chunks.front_mut().expect("n <= buffered");
            let rest = chunk.rest();
            let k = rest.len().min(out.len());
            out[..k].copy_from_slice(&rest[..k]);
            chunk.pos += k;
            self.buffered -= k;
            out = &mut out[k..];
            if chunk.pos == chunk.len {
                self.chunks.pop_front();
                self.consumed();
            }
        }
    }

    /// A bytes object of the next `n` buffered bytes.
    fn bytes<'py>(&mut self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyBytes>> {
        // SAFETY: attached; a NULL result is the error Python set. The new object's `n`
        // bytes are all written by `copy_out` before the object is used.
        unsafe {
            let obj = Bound::from_owned_ptr_or_err(
                py,
                ffi::PyBytes_FromStringAndSize(std::ptr::null(), n as ffi::Py_ssize_t),
            )?
            .cast_into_unchecked::<PyBytes>();
            let data = ffi::PyBytes_AsString(obj.as_ptr()) as *mut u8;
            self.copy_out(std::slice::from_raw_parts_mut(data, n));
            Ok(obj)
        }
    }

    /// Bytes up to and including the next newline (or `limit` bytes, or the end).
    fn line<'py>(
        &mut self,
        py: Python<'py>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut scanned = 0;
        loop {
            let mut upto = None;
            let mut seen = 0;
            for chunk in &self.chunks {
                let rest = chunk.rest();
                if seen + rest.len() > scanned {
                    let from = scanned.saturating_sub(seen);
                    if let Some(i) = rest[from..].iter().position(|&b| b == b'\n') {
                        upto = Some(seen + from + i + 1);
                        break;
                    }
                }
                seen += rest.len();
            }
            scanned = seen;
            let stop = match (upto, limit) {
                (Some(u), Some(l)) => Some(u.min(l)),
                (Some(u), None) => Some(u),
                (None, Some(l)) if self.buffered >= l => Some(l),
                _ => None,
            };
            if let Some(n) = stop {
                return self.bytes(py, n);
            }
            if !self.fill(py)? {
                let n = limit.map_or(self.buffered, |l| l.min(self.buffered));
                return self.bytes(py, n);
            }
        }
    }
}

fn size_arg(size: Option<isize>) -> Option<usize> {
    size.filter(|s| *s >= 0).map(|s| s as usize)
}

/// Bytes of an Elixir binary, shared with Python (`memoryview(x)` does not copy them).
#[pyclass(name = "ElixirBytes", module = "snakebridge", frozen)]
pub struct SharedBytes {
    _env: Arc<Mutex<OwnedEnv>>,
    data: *const u8,
    len: usize,
}

// SAFETY: `data` points at `len` immutable bytes of a binary that `_env` holds (see
// `Chunk`); they are only read, from any thread, while this object (and so the env)
// lives, which the buffer protocol guarantees for every view (`view.obj` holds it).
unsafe impl Send for SharedBytes {}
// SAFETY: as above: shared reads of immutable memory.
unsafe impl Sync for SharedBytes {}

#[pymethods]
impl SharedBytes {
    /// # Safety
    /// Called by Python with a `view` to fill (the buffer protocol).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let (data, len) = (slf.get().data, slf.get().len);
        // SAFETY: attached; `view` is Python's to fill. A read-only view of `len` bytes
        // at `data`, which stay valid while `view.obj` (this object, referenced by
        // PyBuffer_FillInfo) lives; a writable request fails with BufferError.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                data as *mut std::os::raw::c_void,
                len as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if rc == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __repr__(&self) -> String {
        format!("<snakebridge.ElixirBytes of {} bytes>", self.len)
    }
}

/// A stream of Elixir binaries, in Python: a read-only, unseekable binary file.
#[pyclass(name = "ElixirFile", module = "snakebridge", frozen)]
pub struct PyFile {
    state: Mutex<FileState>,
}

impl PyFile {
    fn new(source: Source) -> Self {
        PyFile {
            state: Mutex::new(FileState {
                source,
                chunks: VecDeque::new(),
                envs: VecDeque::new(),
                buffered: 0,
                closed: false,
            }),
        }
    }
}

#[pymethods]
impl PyFile {
    /// All the rest (`size` < 0 or None), or `size` bytes (fewer only at the end).
    #[pyo3(signature = (size = -1))]
    fn read<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let mut s = lock(&self.state)?;
        s.open()?;
        let n = match size_arg(size) {
            Some(n) => {
                s.fill_to(py, n)?;
                n.min(s.buffered)
            }
            None => {
                while s.fill(py)? {}
                s.buffered
            }
        };
        s.bytes(py, n)
    }

    /// At most `size` bytes, waiting only when nothing is buffered.
    #[pyo3(signature = (size = -1))]
    fn read1<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let mut s = lock(&self.state)?;
        s.open()?;
        s.some(py)?;
        let first = s.chunks.front().map_or(0, |c| c.len - c.pos);
        let n = size_arg(size).map_or(first, |n| n.min(s.buffered));
        s.bytes(py, n)
    }

    /// Reads into a writable buffer; the number of bytes read (0 at the end).
    fn readinto(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        let buf = pyo3::buffer::PyUntypedBuffer::get(buffer)?;
        if buf.readonly() || !buf.is_c_contiguous() {
            return Err(PyTypeError::new_err(
                "readinto() needs a writable contiguous buffer",
            ));
        }
        let mut s = lock(&self.state)?;
        s.open()?;
        s.some(py)?;
        let n = buf.len_bytes().min(s.buffered);
        // SAFETY: the buffer is writable, contiguous and `len_bytes` long, and stays
        // exported (so alive and unmoved) until `buf` is released below; attached.
        let out = unsafe { std::slice::from_raw_parts_mut(buf.buf_ptr() as *mut u8, n) };
        s.copy_out(out);
        buf.release(py);
        Ok(n)
    }

    /// The next binary of the stream (or what is left of it), shared, not copied: a
    /// read-only `memoryview`; empty at the end. `for c in iter(f.readchunk, b""):`
    fn readchunk<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut s = lock(&self.state)?;
        s.open()?;
        match s.chunk(py)? {
            Some(shared) => Ok(pyo3::types::PyMemoryView::from(&shared.into_any())?.into_any()),
            None => {
                Ok(pyo3::types::PyMemoryView::from(&PyBytes::new(py, b"").into_any())?.into_any())
            }
        }
    }

    #[pyo3(signature = (size = -1))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let mut s = lock(&self.state)?;
        s.open()?;
        s.line(py, size_arg(size))
    }

    #[pyo3(signature = (hint = -1))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<isize>) -> PyResult<Bound<'py, PyList>> {
        let mut s = lock(&self.state)?;
        s.open()?;
        let list = PyList::empty(py);
        let mut total = 0;
        loop {
            let line = s.line(py, None)?;
            if line.as_bytes().is_empty() {
                return Ok(list);
            }
            total += line.as_bytes().len();
            list.append(line)?;
            if size_arg(hint).is_some_and(|h| h > 0 && total >= h) {
                return Ok(list);
            }
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.readline(py, None)?;
        Ok((!line.as_bytes().is_empty()).then_some(line))
    }

    /// Closes the file: the enumerable is halted (its cleanup runs).
    fn close(&self) -> PyResult<()> {
        let mut s = lock(&self.state)?;
        if !s.closed {
            s.closed = true;
            s.chunks.clear();
            s.envs.clear();
            s.buffered = 0;
            s.source.halt();
        }
        Ok(())
    }

    #[getter]
    fn closed(&self) -> bool {
        self.state.try_lock().map(|s| s.closed).unwrap_or(false)
    }

    #[getter]
    fn mode(&self) -> &'static str {
        "rb"
    }

    #[getter]
    fn name(&self) -> &'static str {
        "<Elixir stream>"
    }

    fn readable(&self) -> PyResult<bool> {
        lock(&self.state)?.open()?;
        Ok(true)
    }

    fn writable(&self) -> bool {
        false
    }

    fn seekable(&self) -> bool {
        false
    }

    fn isatty(&self) -> bool {
        false
    }

    fn flush(&self) {}

    fn fileno(&self, py: Python<'_>) -> PyResult<i32> {
        let unsupported = py.import("io")?.getattr("UnsupportedOperation")?;
        Err(PyErr::from_value(
            unsupported.call1(("an Elixir stream has no file descriptor",))?,
        ))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        "<snakebridge.ElixirFile>".into()
    }
}

/// Registers the classes in the `snakebridge` module.
pub fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyIter>()?;
    m.add_class::<PyFile>()?;
    m.add_class::<SharedBytes>()
}
