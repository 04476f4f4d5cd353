//! Public ids (sessions, streams, refs): a keyed hash of the id's kind and a counter.

use once_cell::sync::Lazy;

/// A secret of this boot of the node: ids are a keyed hash of their kind and a counter,
/// so one id tells nothing about another, of its kind or any other (the k-th session and
/// the k-th stream share nothing), and ids of earlier boots match nothing.
static SECRET: Lazy<std::hash::RandomState> = Lazy::new(std::hash::RandomState::new);

/// The 128-bit public id of number `n` of `kind` (the kind is part of the keyed input:
/// counters of different kinds may share values).
pub fn token(kind: &str, n: u64) -> u128 {
    use std::hash::BuildHasher;
    let half = |part: u8| SECRET.hash_one((kind, n, part)) as u128;
    (half(0) << 64) | half(1)
}

/// `kind-` and the 32 hex digits of `token(kind, n)`.
pub fn format_id(kind: &str, n: u64) -> String {
    format!("{kind}-{:032x}", token(kind, n))
}

/// The token in a stream's `ref_id` (`sr-` and 32 lowercase hex digits).
pub fn parse_stream_id(s: &str) -> Option<u128> {
    let hex = s.strip_prefix("sr-")?;
    if hex.len() != 32
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u128::from_str_radix(hex, 16).ok()
}
