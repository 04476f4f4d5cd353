//! Cargo integration tests of `snakebridge_core` live in `tests/`, one file per module
//! of the core; they need Python but no BEAM.
