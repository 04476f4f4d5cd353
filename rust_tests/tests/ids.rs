//! Stream ids in wire maps: made by `format_id`, read back by `parse_stream_id`.

use snakebridge_nif::objects::{format_id, parse_stream_id};

#[test]
fn stream_ids_round_trip() {
    for n in [0u64, 1, 42, 1 << 40, u64::MAX] {
        let id = format_id("sr", n);
        assert!(id.starts_with("sr-"), "{id}");
        assert_eq!(parse_stream_id(&id), Some(n), "{id}");
    }
}

#[test]
fn ids_are_distinct() {
    assert_ne!(format_id("sr", 1), format_id("sr", 2));
    assert_ne!(format_id("sr", 1), format_id("ref", 1));
}

#[test]
fn a_ref_id_is_not_a_stream_id() {
    assert_eq!(parse_stream_id(&format_id("ref", 7)), None);
}

#[test]
fn another_boot_is_not_this_node() {
    let id = format_id("sr", 7);
    let boot = id.split('-').nth(1).unwrap();
    let other = u64::from_str_radix(boot, 16).unwrap() ^ 1;
    assert_eq!(parse_stream_id(&format!("sr-{other:08x}-7")), None);
}

#[test]
fn malformed_ids() {
    let id = format_id("sr", 7);
    let boot = id.split('-').nth(1).unwrap().to_string();
    for bad in [
        String::new(),
        "abc123".into(),
        "sr".into(),
        "sr-".into(),
        format!("sr-{boot}"),
        format!("sr-{boot}-"),
        format!("sr-{boot}-x"),
        format!("sr-{boot}--7"),
        format!("sr-{boot}-7-1"),
        format!("sr-{boot}-18446744073709551616"),
        format!("SR-{boot}-7"),
        "sr-zz-7".into(),
        format!(" {id}"),
    ] {
        assert_eq!(parse_stream_id(&bad), None, "{bad:?}");
    }
}
