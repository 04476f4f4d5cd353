//! How an [`Error`] reaches Elixir: the `reason` of `{:error, reason}`.

use crate::atoms::{
    bad_argument, cancelled, init_failed, internal_error, no_len, python_error, python_not_started,
    released, stop_iteration, stopped, timeout, unknown_stream,
};
use rustler::{Encoder, Env, Term};

pub use snakebridge_core::Error;

/// An error as the term Elixir gets.
pub struct Reason<'e>(pub &'e Error);

impl Encoder for Reason<'_> {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match self.0 {
            Error::NotStarted => python_not_started().encode(env),
            Error::Python {
                type_name,
                message,
                traceback,
            } => (python_error(), type_name, message, traceback).encode(env),
            Error::Timeout => timeout().encode(env),
            Error::Cancelled => cancelled().encode(env),
            Error::StopIteration => stop_iteration().encode(env),
            Error::UnknownStream => unknown_stream().encode(env),
            Error::Init(msg) => (init_failed(), msg).encode(env),
            Error::BadArg(msg) => (bad_argument(), msg).encode(env),
            Error::NoLen => no_len().encode(env),
            Error::Internal(msg) => (internal_error(), msg).encode(env),
            Error::Released => released().encode(env),
            Error::Stopped => stopped().encode(env),
        }
    }
}

/// `{:error, reason}`.
pub fn error_tuple<'a>(env: Env<'a>, err: &Error) -> Term<'a> {
    (crate::atoms::error(), Reason(err)).encode(env)
}
