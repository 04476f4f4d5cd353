//! Handles that tie an object living on another node (a pool worker) to garbage
//! collection on this node.
//!
//! A ref made on a worker and returned here holds a resource of the worker, which this
//! node's collector does not see. `make(pid, note)` makes a resource of this node: when
//! the BEAM collects its last copy, `note` is sent to `pid` (a process that tells the
//! worker to let the object go). A destructor runs on a scheduler thread, where a message
//! cannot be sent without a caller env: the note goes to one library thread that sends.

use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

use once_cell::sync::Lazy;
use rustler::env::SavedTerm;
use rustler::{LocalPid, OwnedEnv, ResourceArc, Term};

type Note = (LocalPid, OwnedEnv, SavedTerm);

/// What `%SnakeBridge.Ref{handle: ...}` holds for an object of another node.
pub struct RemoteHandle {
    pid: LocalPid,
    note: Mutex<Option<(OwnedEnv, SavedTerm)>>,
}

#[rustler::resource_impl]
impl rustler::Resource for RemoteHandle {}

impl Drop for RemoteHandle {
    fn drop(&mut self) {
        let note = self
            .note
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((env, saved)) = note {
            let sender = SENDER.lock().unwrap_or_else(|p| p.into_inner());
            // The thread lives as long as the library: a failed send means it is gone.
            let _ = sender.send((self.pid, env, saved));
        }
    }
}

/// The one thread that sends the notes of collected handles, in order.
static SENDER: Lazy<Mutex<Sender<Note>>> = Lazy::new(|| {
    let (tx, rx) = channel::<Note>();
    std::thread::Builder::new()
        .name("snakebridge-remote".into())
        .spawn(move || {
            for (pid, mut env, saved) in rx {
                // The receiver may be gone (the application stopped): nothing to do then.
                let _ = env.send_and_clear(&pid, |e| saved.load(e));
            }
        })
        .expect("cannot start the remote-handle thread");
    Mutex::new(tx)
});

/// A handle whose collection sends `note` to `pid`.
pub fn make(pid: LocalPid, note: Term<'_>) -> ResourceArc<RemoteHandle> {
    let env = OwnedEnv::new();
    let saved = env.save(note);
    ResourceArc::new(RemoteHandle {
        pid,
        note: Mutex::new(Some((env, saved))),
    })
}
