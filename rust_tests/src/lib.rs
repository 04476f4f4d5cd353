//! Cargo integration tests of SnakeBridge's native crate live in `tests/`, one file per
//! concern; they need Python but no BEAM.
