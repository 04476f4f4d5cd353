//! Sessions made by `SnakeBridge.Session.start/1`: they group the refs and streams made
//! under them, may pin all their work to one OS thread (a lane), and release everything
//! at once, explicitly or when their owner process exits.
//!
//! A session id that `start` did not make (any string a user passes as `session_id`) is a
//! label only: its work runs on the shared threads, as without a session.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use once_cell::sync::Lazy;
use pyo3::prelude::*;
use rustler::env::SavedTerm;
use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv, ResourceArc, Term};

use crate::error::Error;
use crate::objects::ObjInner;
use snakebridge_core::threads::{self, Threads};

pub struct Session {
    pub id: String,
    /// The thread every operation of the session runs on (`affinity: :thread`).
    lane: Option<usize>,
    objects: Mutex<Vec<Weak<ObjInner>>>,
    /// Work of the session not answered yet (calls, `stream/5` producers); `None` once
    /// the session is closed (no new work, its work stopped).
    running: Mutex<Option<Vec<Running>>>,
    released: AtomicBool,
    /// Watches the owner; kept here so the monitor lives as long as the session.
    watch: Mutex<Option<ResourceArc<Watch>>>,
}

impl Session {
    /// Where this session's work runs.
    pub fn threads(&self) -> &'static Threads {
        match self.lane {
            Some(i) => &threads::LANE[i],
            None => &threads::CALLS,
        }
    }

    /// The lane for releasing this session's objects (`None`: any thread).
    pub fn lane(&self) -> Option<&'static Threads> {
        self.lane.map(|i| &threads::LANE[i])
    }

    pub fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// Remembers an object made under the session (released with it).
    pub fn adopt(&self, obj: &Arc<ObjInner>) {
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        if objects.len() >= 64 && objects.len().is_power_of_two() {
            objects.retain(|w| w.strong_count() > 0);
        }
        objects.push(Arc::downgrade(obj));
    }

    /// Follows work of the session until it answers: closing the session stops it, and
    /// `answer` (made in `env`) goes to `pid` instead of its own. Work that comes after
    /// the close is stopped at once.
    pub fn track<'a>(&self, env: Env<'a>, work: Weak<dyn Stop>, pid: LocalPid, answer: Term<'a>) {
        let owned = OwnedEnv::new();
        let saved = owned.save(answer);
        let running = Running {
            work,
            pid,
            answer: (owned, saved),
        };
        let mut list = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match list.as_mut() {
            Some(list) => {
                if list.len() >= 64 && list.len().is_power_of_two() {
                    list.retain(|r| r.work.strong_count() > 0);
                }
                list.push(running);
            }
            None => {
                drop(list);
                running.stop(env);
            }
        }
    }

    /// Closes the session: new work gets `{:error, :released}`, and its work still
    /// running is stopped (queued work never starts, running Python code is
    /// interrupted) and answered `{:error, :released}` now, through `env`. No GIL.
    pub fn close(&self, env: Env<'_>) {
        let Some(running) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        forget(&self.id, self.lane);
        for r in running {
            r.stop(env);
        }
    }

    /// Releases every object of the session now (generators closed, `finally` runs).
    /// Runs attached, on the session's lane when it has one; after `close`.
    pub fn release_now(&self, py: Python<'_>) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        self.watch.lock().unwrap_or_else(|p| p.into_inner()).take();
        let objects = std::mem::take(&mut *self.objects.lock().unwrap_or_else(|p| p.into_inner()));
        for obj in objects.iter().filter_map(Weak::upgrade) {
            obj.release(py);
        }
    }
}

/// Work of a session that closing it stops.
pub trait Stop: Send + Sync {
    /// Stops the work unless it has answered; true when it never answers now.
    fn stop(&self) -> bool;
}

/// Work being followed, with the answer a close gives it.
struct Running {
    work: Weak<dyn Stop>,
    pid: LocalPid,
    answer: (OwnedEnv, SavedTerm),
}

impl Running {
    fn stop(self, env: Env<'_>) {
        if self.work.upgrade().is_some_and(|w| w.stop()) {
            let (owned, saved) = &self.answer;
            let msg = owned.run(|e| saved.load(e).in_env(env));
            // A caller gone is not an error.
            let _ = env.send(&self.pid, msg);
        }
    }
}

/// Closes session `id` (see `Session::close`) and releases its objects on its own thread,
/// then sends `{tag, :released}` to `pid`. False when no such session is open.
pub fn release(env: Env<'_>, id: &str, pid: LocalPid, tag: Term<'_>) -> bool {
    let Some(session) = lookup(id) else {
        return false;
    };
    session.close(env);
    let owned = OwnedEnv::new();
    let msg = owned.save((tag, crate::atoms::released()).encode(env));
    session.threads().submit(Box::new(move |py| {
        session.release_now(py);
        let mut owned = owned;
        let _ = owned.send_and_clear(&pid, |e| msg.load(e));
    }));
    true
}

/// The owner watch: the owner's exit releases the session (on its lane).
pub struct Watch {
    session: Weak<Session>,
}

#[rustler::resource_impl]
impl rustler::Resource for Watch {
    fn down<'a>(&'a self, env: Env<'a>, _pid: LocalPid, _mon: Monitor) {
        if let Some(s) = self.session.upgrade() {
            s.close(env);
            // A resource callback cannot take the GIL: hand it to the session's thread.
            let threads = s.threads();
            threads.submit(Box::new(move |py| s.release_now(py)));
        }
    }
}

/// The session of work outside any session (`SnakeBridge.Context`'s default, too).
pub const DEFAULT: &str = "default";

static SESSIONS: Lazy<Mutex<HashMap<String, Arc<Session>>>> = Lazy::new(Default::default);
/// Ids of recently released sessions: using one gives `{:error, :released}`. Bounded: the
/// oldest are forgotten (an id that old then only labels refs, like any unknown id).
static RELEASED: Lazy<Mutex<Released>> = Lazy::new(Default::default);
const REMEMBERED: usize = 65_536;

#[derive(Default)]
struct Released {
    ids: HashSet<String>,
    order: std::collections::VecDeque<String>,
}

impl Released {
    fn insert(&mut self, id: &str) {
        if self.ids.insert(id.to_string()) {
            self.order.push_back(id.to_string());
            if self.order.len() > REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }
}
static LANE_USERS: [AtomicUsize; threads::LANES] = [const { AtomicUsize::new(0) }; threads::LANES];
static NEXT: AtomicUsize = AtomicUsize::new(1);

fn sessions() -> MutexGuard<'static, HashMap<String, Arc<Session>>> {
    SESSIONS.lock().unwrap_or_else(|p| p.into_inner())
}

fn forget(id: &str, lane: Option<usize>) {
    sessions().remove(id);
    RELEASED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id);
    if let Some(i) = lane {
        LANE_USERS[i].fetch_sub(1, Ordering::AcqRel);
    }
}

pub fn lookup(id: &str) -> Option<Arc<Session>> {
    if id == DEFAULT {
        return None;
    }
    sessions().get(id).cloned()
}

fn is_released(id: &str) -> bool {
    RELEASED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ids
        .contains(id)
}

/// The threads for work routed by `route`: `nil` (no session) or a session id.
pub fn route(route: Term<'_>) -> Result<&'static Threads, Error> {
    route_with(route, &threads::CALLS)
}

/// As `route`, with the session (when `Session.start/1` made it) its work belongs to.
pub fn route_session(route: Term<'_>) -> Result<(&'static Threads, Option<Arc<Session>>), Error> {
    let Ok(id) = route.decode::<&str>() else {
        return Ok((&threads::CALLS, None));
    };
    match lookup(id) {
        Some(s) => Ok((
            if s.lane.is_some() {
                s.threads()
            } else {
                &threads::CALLS
            },
            Some(s),
        )),
        None if id != DEFAULT && is_released(id) => Err(Error::Released),
        None => Ok((&threads::CALLS, None)),
    }
}

/// As `route`, with `default` for work outside thread-affine sessions.
pub fn route_with(route: Term<'_>, default: &'static Threads) -> Result<&'static Threads, Error> {
    route_id(route.decode::<&str>().ok(), default)
}

/// As `route_with`, for a session id (`None`: no session).
pub fn route_id(id: Option<&str>, default: &'static Threads) -> Result<&'static Threads, Error> {
    let Some(id) = id else {
        return Ok(default);
    };
    if id == DEFAULT {
        return Ok(default);
    }
    match lookup(id) {
        Some(s) if s.lane.is_some() => Ok(s.threads()),
        Some(_) => Ok(default),
        None if is_released(id) => Err(Error::Released),
        None => Ok(default),
    }
}

/// Starts a session owned by `owner`; `{:ok, id}`.
pub fn start(env: Env<'_>, affinity: bool, owner: LocalPid) -> Term<'_> {
    start_as(env, None, affinity, owner)
}

/// Like `start`, under the id `given` when there is one (a session of another node
/// started on a pool worker keeps its id there). An id in use answers `{:ok, id}` and
/// starts nothing.
pub fn start_as(env: Env<'_>, given: Option<String>, affinity: bool, owner: LocalPid) -> Term<'_> {
    if let Some(id) = &given {
        if sessions().contains_key(id) {
            return crate::call::ok_tuple(env, id.encode(env));
        }
    }
    let lane = affinity.then(|| {
        let i = (0..threads::LANES)
            .min_by_key(|&i| LANE_USERS[i].load(Ordering::Acquire))
            .unwrap_or(0);
        LANE_USERS[i].fetch_add(1, Ordering::AcqRel);
        i
    });
    let id = given.unwrap_or_else(|| {
        format!(
            "{}-{}",
            snakebridge_core::ids::format_id(
                "session",
                NEXT.fetch_add(1, Ordering::Relaxed) as u64
            ),
            if lane.is_some() { "thread" } else { "any" }
        )
    });
    let session = Arc::new(Session {
        id: id.clone(),
        lane,
        objects: Mutex::new(Vec::new()),
        running: Mutex::new(Some(Vec::new())),
        released: AtomicBool::new(false),
        watch: Mutex::new(None),
    });
    let watch = ResourceArc::new(Watch {
        session: Arc::downgrade(&session),
    });
    sessions().insert(id.clone(), session.clone());
    if env.monitor(&watch, &owner).is_none() {
        // The owner is gone already: the session is released before anyone uses it.
        session.close(env);
        let threads = session.threads();
        threads.submit(Box::new(move |py| session.release_now(py)));
    } else {
        *session.watch.lock().unwrap_or_else(|p| p.into_inner()) = Some(watch);
    }
    crate::call::ok_tuple(env, id.encode(env))
}
