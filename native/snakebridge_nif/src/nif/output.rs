//! Where Python's output goes.

use rustler::LocalPid;

use crate::output;

/// Output routing on or off (benchmarks measure its cost; off, output of calls goes to
/// the sink like that of Python's own threads).
#[rustler::nif]
fn set_output_routing(on: bool) -> bool {
    output::set_routing(on);
    true
}

/// The process that takes output of threads with no caller (`SnakeBridge.Sink`).
#[rustler::nif]
fn set_sink(pid: LocalPid) -> bool {
    output::set_sink(pid);
    true
}

/// Builds a large map a library thread made (the sink runs it: `map_builder`).
#[rustler::nif(schedule = "DirtyCpu")]
fn build_map(id: u64) -> bool {
    crate::map_builder::build(id)
}
