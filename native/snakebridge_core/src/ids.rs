//! The public ids of objects in wire maps: a keyed hash of a counter.

use once_cell::sync::Lazy;

/// A secret of this boot of the node: ids in wire maps are a keyed hash of a counter, so
/// one id tells nothing about another (they cannot be guessed), and ids of earlier boots
/// match nothing.
static SECRET: Lazy<std::hash::RandomState> = Lazy::new(std::hash::RandomState::new);

/// The 128-bit public id of object number `n`.
pub fn token(n: u64) -> u128 {
    use std::hash::BuildHasher;
    let half = |part: u8| SECRET.hash_one((n, part)) as u128;
    (half(0) << 64) | half(1)
}

pub fn format_id(prefix: &str, n: u64) -> String {
    format!("{prefix}-{:032x}", token(n))
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
