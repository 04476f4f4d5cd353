//! Large maps made on library threads, built from arrays on a BEAM scheduler.
//!
//! `enif_make_map_from_arrays` sorts the keys by hash with `erts_qsort`, which above 128
//! items seeds its pivot from the calling scheduler's data: on a thread the BEAM does not
//! manage that is a NULL dereference (OTP 23.3.4.15+/24.3.4.2+/25.1+/26, erlang/otp#8208,
//! fixed in 27.3). Key by key (`enif_make_map_put`) is correct anywhere but costs a heap
//! fragment and a path copy per key (100k keys: ~150 ms against ~10 ms from arrays).
//! So a library thread with a large map asks `SnakeBridge.Sink` to run `build_map/1`: a
//! dirty NIF builds the map from the thread's arrays, in the thread's own env, while the
//! thread waits detached. The env is process-independent and used by one thread at a
//! time (the waiting thread touches it again only once the build is over).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::Python;
use rustler::{sys, Encoder, Env, OwnedEnv};

use crate::enif;

/// Off a scheduler, maps of at least this many keys are built on one; smaller ones key
/// by key (the round trip to a scheduler costs about what a few hundred puts cost).
pub const HOP_AT: usize = 512;

/// How long a map waits for the sink to start building it before it is built key by
/// key here instead (a sink that is gone or stuck must not stop conversions).
const START_WITHIN: Duration = Duration::from_secs(2);

enum State {
    /// Queued for the sink.
    Pending,
    /// A scheduler is building it: the requesting thread must wait for the end.
    Running,
    /// Built (`None`: refused, or duplicate keys: build it key by key).
    Done(Option<sys::ErlNifTerm>),
    /// The requester stopped waiting before a scheduler took it.
    Abandoned,
}

struct Request {
    env: *mut sys::ErlNifEnv,
    keys: *const sys::ErlNifTerm,
    values: *const sys::ErlNifTerm,
    len: usize,
    state: Mutex<State>,
    changed: Condvar,
}

// SAFETY: the pointers are only dereferenced by the one scheduler that moved the request
// from `Pending` to `Running`, while the requesting thread waits for `Done` and touches
// neither the env nor the arrays (the mutex orders the two threads' accesses).
unsafe impl Send for Request {}
// SAFETY: as above; everything else is behind the mutex.
unsafe impl Sync for Request {}

impl Request {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

static PENDING: Mutex<Vec<(u64, Arc<Request>)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn take(id: u64) -> Option<Arc<Request>> {
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    let at = pending.iter().position(|(i, _)| *i == id)?;
    Some(pending.swap_remove(at).1)
}

/// A map of `keys` and `values` in `env`, from arrays on any thread (when two keys are the
/// same term, the last wins). `None` only when the BEAM refuses to build it.
///
/// # Safety
/// Attached to Python (`py`); `keys` and `values` have the same length, and every term
/// belongs to `env`, which this thread alone uses.
pub unsafe fn map(
    py: Python<'_>,
    env: Env<'_>,
    keys: &[sys::ErlNifTerm],
    values: &[sys::ErlNifTerm],
) -> Option<sys::ErlNifTerm> {
    if keys.len() >= HOP_AT && !rustler::thread::is_scheduler_thread() {
        // SAFETY: this function's contract.
        if let Some(map) = unsafe { on_scheduler(py, env, keys, values) } {
            return Some(map);
        }
    }
    // SAFETY: this function's contract.
    unsafe { enif::map(env, keys, values) }
}

/// The map built by the sink on a scheduler; `None` when it could not be (no sink, not
/// started in time, duplicate keys): the caller builds it here.
///
/// # Safety
/// As `map`.
unsafe fn on_scheduler(
    py: Python<'_>,
    env: Env<'_>,
    keys: &[sys::ErlNifTerm],
    values: &[sys::ErlNifTerm],
) -> Option<sys::ErlNifTerm> {
    let sink = crate::output::sink()?;
    let req = Arc::new(Request {
        env: env.as_c_arg(),
        keys: keys.as_ptr(),
        values: values.as_ptr(),
        len: keys.len(),
        state: Mutex::new(State::Pending),
        changed: Condvar::new(),
    });
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    PENDING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((id, req.clone()));
    let sent = OwnedEnv::new()
        .send_and_clear(&sink, |e| {
            (crate::atoms::snakebridge_build_map(), id).encode(e)
        })
        .is_ok();
    if !sent {
        take(id);
        return None;
    }
    // Detached while the scheduler works: other Python threads run meanwhile (the map's
    // keys and values are terms already; no Python object is read until it is built).
    py.detach(|| {
        let started = Instant::now();
        let mut st = req.state();
        loop {
            match &*st {
                State::Done(map) => return *map,
                State::Pending if started.elapsed() >= START_WITHIN => {
                    *st = State::Abandoned;
                    drop(st);
                    take(id);
                    return None;
                }
                _ => {}
            }
            st = req
                .changed
                .wait_timeout(st, Duration::from_millis(10))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    })
}

/// On a dirty scheduler (the sink's `build_map/1`): builds request `id`'s map. False when
/// there was nothing to build (its thread stopped waiting).
pub fn build(id: u64) -> bool {
    let Some(req) = take(id) else {
        return false;
    };
    {
        let mut st = req.state();
        if !matches!(*st, State::Pending) {
            return false;
        }
        *st = State::Running;
    }
    let mut out: sys::ErlNifTerm = Default::default();
    // SAFETY: `Running` keeps the requesting thread waiting, so its env and arrays are
    // live and used by this thread alone; equal lengths, terms of that env (`map`'s
    // contract). This is a scheduler thread, as the sort inside needs.
    let made =
        unsafe { sys::enif_make_map_from_arrays(req.env, req.keys, req.values, req.len, &mut out) };
    let mut size: usize = 0;
    // SAFETY: as above; `out` is a term of that env when `made` is true.
    let whole = made != 0 && unsafe { sys::enif_get_map_size(req.env, out, &mut size) } != 0;
    // Duplicate keys are dropped silently above 32 keys (erlang/otp#10975) and can leave
    // a broken map: a short map is built again key by key by the requester.
    let result = (whole && size == req.len).then_some(out);
    *req.state() = State::Done(result);
    req.changed.notify_all();
    true
}
