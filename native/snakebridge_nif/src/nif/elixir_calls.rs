//! Elixir functions Python calls: their answers, and how long Python waits for one.

use rustler::Term;

use crate::elixir_calls;

/// The answer of the BEAM to an Elixir function Python called (see elixir_calls.rs).
#[rustler::nif]
fn callback_reply(id: u64, result: Term<'_>) -> bool {
    elixir_calls::reply(id, result)
}

/// How long Python waits for an Elixir function it called.
#[rustler::nif]
fn set_callback_timeout(ms: u64) -> bool {
    elixir_calls::set_timeout(ms);
    true
}
