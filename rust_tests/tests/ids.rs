//! Stream ids in wire maps: made by `format_id`, read back by `parse_stream_id`.

use snakebridge_core::ids::{format_id, parse_stream_id, token};

#[test]
fn stream_ids_round_trip() {
    for n in [0u64, 1, 42, 1 << 40, u64::MAX] {
        let id = format_id("sr", n);
        assert!(id.starts_with("sr-"), "{id}");
        assert_eq!(id.len(), 3 + 32, "{id}");
        assert_eq!(parse_stream_id(&id), Some(token("sr", n)), "{id}");
    }
}

#[test]
fn ids_are_distinct_and_tell_nothing_of_each_other() {
    assert_ne!(format_id("sr", 1), format_id("sr", 2));
    assert_ne!(format_id("sr", 1), format_id("ref", 1));
    // Neighbouring counters give unrelated ids: about half of the 128 bits differ.
    for n in 1..200u64 {
        let differ = (token("sr", n) ^ token("sr", n + 1)).count_ones();
        assert!((24..=104).contains(&differ), "{n}: {differ} bits differ");
    }
}

#[test]
fn ids_of_different_kinds_share_nothing() {
    // The k-th session and the k-th stream come from one counter value each: their
    // tokens must be unrelated (an earlier version's ids let one name the other).
    for n in 0..200u64 {
        let (s, r) = (token("session", n), token("sr", n));
        assert_ne!(s, r, "{n}");
        let differ = (s ^ r).count_ones();
        assert!((24..=104).contains(&differ), "{n}: {differ} bits differ");
        let sid = format_id("session", n);
        assert_ne!(
            sid.strip_prefix("session-"),
            format_id("sr", n).strip_prefix("sr-")
        );
    }
}

#[test]
fn a_ref_id_is_not_a_stream_id() {
    assert_eq!(parse_stream_id(&format_id("ref", 7)), None);
}

#[test]
fn malformed_ids() {
    let id = format_id("sr", 7);
    let hex = id.strip_prefix("sr-").unwrap().to_string();
    for bad in [
        String::new(),
        "abc123".into(),
        "sr".into(),
        "sr-".into(),
        format!("sr-{}", &hex[1..]),
        format!("sr-{hex}0"),
        format!("sr-{}", hex.to_uppercase()),
        format!("SR-{hex}"),
        format!("sr-{hex}-7"),
        format!("sr--{}", &hex[1..]),
        format!(" {id}"),
        "sr-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz".into(),
    ] {
        assert_eq!(parse_stream_id(&bad), None, "{bad:?}");
    }
}
