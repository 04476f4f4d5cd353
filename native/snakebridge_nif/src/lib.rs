//! SnakeBridge's NIF: the BEAM side of CPython embedded in the BEAM.
//!
//! Layers, from the BEAM inwards:
//! - `nif/`: the entry points, one line each, grouped by concern;
//! - `job`, `producer`, `session`: queueing a request on a library thread of
//!   `snakebridge_core`, answering the caller, watching callers and session owners;
//! - `ops`: the one dispatch every operation goes through (call, getattr, next, ...);
//! - `convert` (terms ⇄ Python objects), `objects` (the resources behind `%Ref{}` and
//!   `%StreamRef{}`), `stream` (a stream's buffered items), `wire` (JSON);
//! - `values`: dates and times, `Decimal`, `UUID`, numpy scalars, `SnakeBridge.Bytes`
//!   (called by `convert` only for structs and objects it does not know); `science`
//!   (pandas' missing values, numpy times, complex numbers) and `array`
//!   (`%SnakeBridge.Array{}`, numeric buffers without copies) behind it;
//! - `atoms`, `error`: every atom, and how an error reaches Elixir.
//!
//! Everything about Python itself (starting it, its threads, interrupts, iteration, the
//! cleanup of dropped objects) is in `snakebridge_core`, which knows nothing of the BEAM.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod array;
pub mod atoms;
pub mod awaitable;
pub mod call;
pub mod convert;
pub mod elixir_calls;
pub mod enif;
pub mod error;
pub mod etf;
pub mod iter_in;
pub mod job;
pub mod map_builder;
mod nif;
pub mod objects;
pub mod ops;
pub mod output;
pub mod producer;
pub mod pymod;
pub mod remote;
pub mod science;
pub mod session;
pub mod shared_binary;
pub mod stream;
pub mod values;
pub mod wire;

rustler::init!("Elixir.SnakeBridge.Native");
