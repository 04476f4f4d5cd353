//! Large `str` and `bytes` results as resource binaries: the binary's data is the Python
//! object's own immutable memory (a `str`'s cached UTF-8), and the binary holds the
//! object until the BEAM collects it. Nothing is copied, and nothing is left to finish.

use pyo3::prelude::*;
use rustler::{sys, Env, ResourceArc};
use snakebridge_core::janitor::{self, Work};

/// Data at least this large is shared rather than copied (below it a copy is cheaper than
/// a resource and, later, a release on a cleanup thread).
pub const SHARE_AT: usize = 64 * 1024;

/// The Python object that owns a shared binary's data.
pub struct Owner {
    obj: Option<Py<PyAny>>,
    data: *const u8,
    len: usize,
}

// SAFETY: `data` points into `obj`'s immutable buffer, which lives as long as `obj`; the
// pointer is only read (by the BEAM, through the binary), from any thread.
unsafe impl Send for Owner {}
// SAFETY: as above: shared reads of immutable memory.
unsafe impl Sync for Owner {}

#[rustler::resource_impl]
impl rustler::Resource for Owner {}

impl Drop for Owner {
    fn drop(&mut self) {
        // Runs wherever the BEAM collects the binary: never wait for the GIL here.
        if let Some(obj) = self.obj.take() {
            janitor::queue(vec![Work::Release(obj)], None);
        }
    }
}

/// A binary term of `env` whose data is `len` bytes at `data`, kept alive by `obj`.
///
/// # Safety
/// `data` is valid for `len` bytes, belongs to `obj` and never changes while `obj` lives
/// (a `bytes` object's data, or a `str`'s cached UTF-8).
pub unsafe fn make(
    env: Env<'_>,
    obj: &Bound<'_, PyAny>,
    data: *const u8,
    len: usize,
) -> sys::ErlNifTerm {
    let owner = ResourceArc::new(Owner {
        obj: Some(obj.clone().unbind()),
        data,
        len,
    });
    // SAFETY: the slice is `data`/`len` of the owner, valid for as long as the owner
    // (and so the resource) lives: the caller's contract, and `obj` is held by it.
    let bin =
        unsafe { owner.make_binary_unsafe(env, |o| std::slice::from_raw_parts(o.data, o.len)) };
    bin.to_term(env).as_c_arg()
}
