//! The raw `enif_*` calls that build terms faster than rustler's safe API can (from
//! arrays, without a `Term` per item), in one place. Each function's contract is the
//! C API's: the caller's env is live, and every term passed in belongs to it.

use rustler::{sys, Env};

/// A new binary of `len` bytes and its (writable, uninitialised) data.
///
/// # Safety
/// The data must be filled before the term is read.
pub unsafe fn new_binary(env: Env<'_>, len: usize) -> (sys::ErlNifTerm, *mut u8) {
    let mut term: sys::ErlNifTerm = Default::default();
    // SAFETY: `env` is live (an `Env` only exists inside its NIF call or OwnedEnv run).
    let data = unsafe { sys::enif_make_new_binary(env.as_c_arg(), len, &mut term) };
    // The BEAM aborts on a failed allocation rather than return NULL; checked anyway.
    assert!(!data.is_null() || len == 0, "enif_make_new_binary failed");
    (term, data)
}

/// A binary holding a copy of `len` bytes at `data`.
///
/// # Safety
/// `data` is valid for reads of `len` bytes.
pub unsafe fn binary(env: Env<'_>, data: *const u8, len: usize) -> sys::ErlNifTerm {
    // SAFETY: the copy fills the whole binary before the term is returned.
    let (term, dst) = unsafe { new_binary(env, len) };
    if len > 0 {
        // SAFETY: `data` is readable for `len` bytes (the contract), `dst` writable for
        // `len` bytes, and a fresh binary cannot overlap Python's buffer.
        unsafe { std::ptr::copy_nonoverlapping(data, dst, len) };
    }
    term
}

/// A list of `items`.
///
/// # Safety
/// Every item belongs to `env`.
pub unsafe fn list(env: Env<'_>, items: &[sys::ErlNifTerm]) -> sys::ErlNifTerm {
    let len = u32::try_from(items.len()).expect("a list shorter than 2^32 items");
    // SAFETY: `items` is valid for `len` terms of `env` (the contract).
    unsafe { sys::enif_make_list_from_array(env.as_c_arg(), items.as_ptr(), len) }
}

/// A tuple of `items`.
///
/// # Safety
/// Every item belongs to `env`.
pub unsafe fn tuple(env: Env<'_>, items: &[sys::ErlNifTerm]) -> sys::ErlNifTerm {
    let len = u32::try_from(items.len()).expect("a tuple shorter than 2^32 items");
    // SAFETY: `items` is valid for `len` terms of `env` (the contract).
    unsafe { sys::enif_make_tuple_from_array(env.as_c_arg(), items.as_ptr(), len) }
}

/// Maps up to this many keys are built from arrays on any thread: above 128 keys the
/// BEAM's sort reads the calling scheduler's data, which a thread it does not manage has
/// none of (a crash: see `map_builder`, which builds larger maps on a scheduler).
const SMALL_MAP: usize = 128;

/// A map; when two keys are the same term (`"a"` and `b"a"` from Python), the last wins.
/// `None` only when the BEAM refuses to build it.
///
/// # Safety
/// `keys` and `values` have the same length, and every term belongs to `env`.
pub unsafe fn map(
    env: Env<'_>,
    keys: &[sys::ErlNifTerm],
    values: &[sys::ErlNifTerm],
) -> Option<sys::ErlNifTerm> {
    debug_assert_eq!(keys.len(), values.len());
    let raw = env.as_c_arg();
    let mut out: sys::ErlNifTerm = Default::default();
    let managed = rustler::thread::is_scheduler_thread();
    if managed || keys.len() <= SMALL_MAP {
        // SAFETY: equal lengths, terms of `env` (the contract). It fails (0) on
        // duplicate keys up to 32 keys; above, it drops them silently and may leave a
        // broken map (erlang/otp#10975): a map short of keys is built key by key below.
        let made = unsafe {
            sys::enif_make_map_from_arrays(
                raw,
                keys.as_ptr(),
                values.as_ptr(),
                keys.len(),
                &mut out,
            )
        };
        let mut size: usize = 0;
        // SAFETY: `out` is a map of `env` when `made` is true.
        let whole = made != 0 && unsafe { sys::enif_get_map_size(raw, out, &mut size) } != 0;
        if whole && size == keys.len() {
            return Some(out);
        }
    }
    // SAFETY: `env` is live.
    let mut map = unsafe { sys::enif_make_new_map(raw) };
    for (k, v) in keys.iter().zip(values) {
        let mut next: sys::ErlNifTerm = Default::default();
        // SAFETY: `map`, `k` and `v` are terms of `env`; it fails only if `map` is not a
        // map, which is checked.
        if unsafe { sys::enif_make_map_put(raw, map, *k, *v, &mut next) } == 0 {
            return None;
        }
        map = next;
    }
    Some(map)
}
