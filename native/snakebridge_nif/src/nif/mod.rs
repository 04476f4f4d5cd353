//! The NIF entry points, grouped by concern. Each is one call into the module that does
//! the work; rustler registers them (`rustler::init!` in lib.rs finds every `#[nif]`).

mod elixir_calls;
mod interpreter;
mod jobs;
mod output;
mod sessions;
mod streams;
mod wire;
