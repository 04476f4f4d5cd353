//! SnakeBridge's core: one CPython interpreter, the threads that run it, and the ways a
//! running call is stopped. Nothing here knows the BEAM; `snakebridge_nif` turns terms
//! into the calls made here.
//!
//! # The threading and GIL model
//!
//! - **Who starts Python.** [`interpreter::init`] starts the interpreter on a thread of its
//!   own (`snakebridge-main`), which then parks for the life of the process. So Python's
//!   "main thread" is one no caller can block, and Python installs no signal handlers:
//!   the host process keeps its own.
//! - **Who runs Python.** Only threads of a [`threads::Threads`]: a bounded group for calls
//!   (`CALLS`), one for long producers (`STREAMS`), four single-thread lanes for
//!   thread-bound objects (`LANE`), and the cleanup threads of [`janitor`]. Each thread
//!   keeps its Python thread state for its whole life (created once, see
//!   [`interpreter::attach`]) and works inside two Python frames of the shim, so code that
//!   reads its caller's frame works. An idle thread spins briefly, then parks, then exits.
//! - **The GIL.** A task runs attached (holding the GIL) and detaches around anything
//!   that may wait: a stream's lock ([`iter`] callers), sleeping, blocking I/O done by
//!   Python itself. No thread ever waits for a Rust lock while attached, so two threads
//!   cannot deadlock on the GIL and a lock.
//! - **Stopping code.** [`interrupt`] runs a task as a [`interrupt::Job`] with an optional
//!   deadline; a timer thread raises an exception in the job's thread when the deadline
//!   passes or the job is cancelled, and raises it again every 10 ms until the job ends
//!   (an `except Exception` cannot swallow it). Code blocked inside a C call stops when it
//!   returns to the interpreter.
//! - **Dropped objects.** A destructor may run on any thread and must never wait for the
//!   GIL: it queues the object on [`janitor`], whose threads close iterators (running a
//!   generator's `finally`) and release it.
//! - **fork.** A child made by `os.fork()` in Python resets its signals and ends any library
//!   thread that finds itself in the child ([`fork`]).
//!
//! Raw C-API calls are few and each carries a `SAFETY:` comment: the interpreter's start
//! (`runtime`), async exceptions (`interrupt`), stepping an iterator (`iter`), the module
//! cache (`names`), the big stacks (`bigstack`) and `pthread_atfork` (`fork`).

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod bigstack;
pub mod error;
pub mod fork;
pub mod ids;
pub mod interpreter;
pub mod interrupt;
pub mod iter;
pub mod janitor;
pub mod names;
pub mod shim;
pub mod threads;

pub use error::Error;
