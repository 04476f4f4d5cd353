//! The JSON wire format (dirty: a large term takes a while to walk).

use rustler::{Binary, Env, Term};

use crate::wire;

#[rustler::nif(schedule = "DirtyCpu")]
fn wire_encode<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    wire::encode(env, term)
}

#[rustler::nif(schedule = "DirtyCpu")]
fn wire_decode<'a>(env: Env<'a>, json: Binary<'a>) -> Term<'a> {
    wire::decode(env, json)
}
