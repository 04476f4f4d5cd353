//! Runs of plain Python values turned into terms in one step: encoded in the external
//! term format, then decoded by one `enif_binary_to_term`.
//!
//! Why: in an env that is not a process's (every answer is built in one), each
//! `enif_make_new_binary` takes a heap fragment of its own and the next term another,
//! so a short `str` cost ~100 ns (a 1M-item batch of short strs ran at 1.7x Python's own
//! `list(gen)`, ints at 1.0x). Decoding a run allocates one fragment for all of it.
//!
//! Encoded here: the `Plain` values. Anything else ends the run (the caller converts it
//! itself).

use pyo3::ffi;
use rustler::types::ListIterator;
use rustler::{sys, Encoder, Env, Term};

/// A value that converts without running Python code, so from a borrowed pointer: an
/// exact `int` that fits 64 bits, an exact `float`, an exact `str` under the sharing
/// threshold (as UTF-8), `None`, `True` or `False`. Runs take these, and so does
/// `ToTerm` for the items of containers and batches.
pub enum Plain<'p> {
    Int(i64),
    Float(f64),
    Str(&'p [u8]),
    None,
    Bool(bool),
}

impl Plain<'_> {
    /// About how many bytes its term takes (backpressure).
    pub fn weight(&self) -> usize {
        match self {
            Plain::Str(bytes) => 16 + bytes.len(),
            _ => 16,
        }
    }
}

/// `p` as a plain value, or `None` for anything else (the general path's).
///
/// # Safety
/// Attached, and `p` is a live object; the result borrows from it.
#[inline(always)]
pub unsafe fn plain<'p>(p: *mut ffi::PyObject) -> Option<Plain<'p>> {
    // SAFETY: attached and `p` is live (the contract). Each branch calls the function for
    // exactly the type its check proved; an exact int's conversion cannot fail (no
    // `__index__` is called), and a failed UTF-8 encoding is cleared and left to the
    // general path, which reports it. The UTF-8 buffer is cached in the str, immutable,
    // `len` bytes long, and lives as long as the str.
    unsafe {
        let tp = ffi::Py_TYPE(p);
        if tp == std::ptr::addr_of_mut!(ffi::PyLong_Type) {
            exact_int(p).map(Plain::Int)
        } else if tp == std::ptr::addr_of_mut!(ffi::PyFloat_Type) {
            Some(Plain::Float(ffi::PyFloat_AS_DOUBLE(p)))
        } else if tp == std::ptr::addr_of_mut!(ffi::PyUnicode_Type) {
            let mut len: ffi::Py_ssize_t = 0;
            let data = ffi::PyUnicode_AsUTF8AndSize(p, &mut len);
            if data.is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            let len = len as usize;
            (len < crate::shared_binary::SHARE_AT)
                .then(|| Plain::Str(std::slice::from_raw_parts(data as *const u8, len)))
        } else if p == ffi::Py_None() {
            Some(Plain::None)
        } else if p == ffi::Py_True() || p == ffi::Py_False() {
            Some(Plain::Bool(p == ffi::Py_True()))
        } else {
            None
        }
    }
}

/// The value of an exact `int` if it fits 64 bits. Most ints have one or two 30-bit
/// digits: read in place (see `compact`), else through CPython's function.
///
/// # Safety
/// Attached, and `p` is a live object of exactly `int`'s type.
#[inline]
unsafe fn exact_int(p: *mut ffi::PyObject) -> Option<i64> {
    #[cfg(not(any(Py_LIMITED_API, PyPy, GraalPy, RustPython, Py_3_14)))]
    // SAFETY: attached (the contract).
    if unsafe { compact::checked() } {
        // SAFETY: `p` is an exact int (the contract), and `read` was checked.
        if let Some(v) = unsafe { compact::read(p) } {
            return Some(v);
        }
    }
    let mut overflow = 0;
    // SAFETY: attached, and `p` is an int: no `__index__` is called, and for an exact
    // int it cannot fail.
    let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(p, &mut overflow) };
    (overflow == 0).then_some(v)
}

/// Small ints read from CPython's own struct, where its layout is known: up to 3.11
/// `ob_size` (the digit count, negative for a negative int) then the digits; 3.12 and
/// 3.13 `lv_tag` (the digit count << 3 | sign: 0 positive, 1 zero, 2 negative) then the
/// digits. A digit holds 30 bits (`sys.int_info.bits_per_digit`): checked once against
/// CPython's own values (`checked`), with the function alone otherwise. Elsewhere
/// (limited API, PyPy, 3.14 on) ints always take the function. A built 1M-int list to
/// Elixir took about 0.8 ms less (of 11).
#[cfg(not(any(Py_LIMITED_API, PyPy, GraalPy, RustPython, Py_3_14)))]
mod compact {
    use pyo3::ffi;
    use std::sync::atomic::{AtomicU8, Ordering};

    #[repr(C)]
    struct Long {
        head: ffi::PyObject,
        /// `ob_size` up to 3.11, `lv_tag` after.
        tag: isize,
        digits: [u32; 2],
    }

    const SHIFT: u32 = 30;

    /// The value of a one- or two-digit int; `None` for more digits.
    ///
    /// # Safety
    /// `p` is a live object of exactly `int`'s type.
    #[inline]
    pub unsafe fn read(p: *mut ffi::PyObject) -> Option<i64> {
        let long = p.cast::<Long>();
        // SAFETY: an int's struct starts with the object header and the tag; a digit is
        // read only when the tag says the int has it (a one-digit int has no second).
        unsafe {
            let tag = (*long).tag;
            let digit =
                |i: usize| i64::from(*std::ptr::addr_of!((*long).digits).cast::<u32>().add(i));
            #[cfg(not(Py_3_12))]
            let (count, negative) = (tag.unsigned_abs(), tag < 0);
            #[cfg(Py_3_12)]
            let (count, negative) = ((tag as usize) >> 3, tag & 3 == 2);
            let magnitude = match count {
                0 => 0,
                1 => digit(0),
                2 => digit(0) | digit(1) << SHIFT,
                _ => return None,
            };
            Some(if negative { -magnitude } else { magnitude })
        }
    }

    /// 0 not checked yet, 1 `read` agrees with CPython, 2 it does not (not used).
    static STATE: AtomicU8 = AtomicU8::new(0);

    /// Whether `read` may be used: on first use, it must read CPython's own ints of one
    /// to three digits at their edges as CPython does.
    ///
    /// # Safety
    /// Attached.
    #[inline]
    pub unsafe fn checked() -> bool {
        match STATE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            // SAFETY: attached (this function's contract).
            _ => unsafe { check() },
        }
    }

    /// # Safety
    /// Attached.
    #[cold]
    unsafe fn check() -> bool {
        const D: i64 = 1 << SHIFT;
        let two_digits = [
            0,
            1,
            -1,
            7,
            D - 1,
            -(D - 1),
            D,
            -D,
            D + 5,
            D * D - 1,
            -(D * D - 1),
        ];
        let more = [D * D, -(D * D), i64::MAX, i64::MIN];
        let agrees = |v: i64, must_read: bool| {
            // SAFETY: attached (this function's contract); a new int, read while held
            // and released after.
            unsafe {
                let obj = ffi::PyLong_FromLongLong(v);
                if obj.is_null() {
                    ffi::PyErr_Clear();
                    return false;
                }
                let got = read(obj);
                ffi::Py_DECREF(obj);
                got == Some(v) || (!must_read && got.is_none())
            }
        };
        let ok =
            two_digits.iter().all(|&v| agrees(v, true)) && more.iter().all(|&v| agrees(v, false));
        STATE.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
        ok
    }
}

const VERSION: u8 = 131;
const NIL_EXT: u8 = 106;
const LIST_EXT: u8 = 108;
const SMALL_INTEGER_EXT: u8 = 97;
const INTEGER_EXT: u8 = 98;
const SMALL_BIG_EXT: u8 = 110;
const NEW_FLOAT_EXT: u8 = 70;
const BINARY_EXT: u8 = 109;
const SMALL_ATOM_UTF8_EXT: u8 = 119;

/// What `Run::push` did with a value.
pub enum Pushed<'p> {
    /// Appended to the run; about how many bytes its term takes.
    Taken(usize),
    /// A plain value that does not start a run, already read: the caller makes its term.
    Declined(Plain<'p>),
    /// Not a plain value.
    Other,
}

/// The header: version, LIST_EXT and a length filled in by `decode`.
const HEADER: usize = 6;

/// Encoded values waiting to become terms, in order.
pub struct Run {
    buf: Vec<u8>,
    count: u32,
    /// Off for containers too small to gain (one decode costs about what two strs do).
    on: bool,
}

/// Containers of fewer items are converted item by item.
const MIN_ITEMS: usize = 8;

impl Default for Run {
    fn default() -> Self {
        Self::new()
    }
}

impl Run {
    /// An empty run (it allocates nothing until a value is pushed).
    pub fn new() -> Self {
        Run {
            buf: Vec::new(),
            count: 0,
            on: true,
        }
    }

    /// A run for a container of `len` items: off when it is too small to gain.
    pub fn for_len(len: usize) -> Self {
        Run {
            on: len >= MIN_ITEMS,
            ..Self::new()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends `p` if it is one of the plain values and a run takes it (`Taken`, with
    /// about how many bytes its term takes). A run starts only at a `str`: numbers,
    /// `None` and booleans join one, but alone they are made as fast directly (a 1M-int
    /// batch took 43 ns per item this way, 22 ns directly), so they come back read
    /// (`Declined`) for the caller to make. Anything else is `Other`.
    ///
    /// # Safety
    /// Attached, and `p` is a live object. Nothing here runs Python code.
    #[inline(always)]
    pub unsafe fn push<'p>(&mut self, p: *mut ffi::PyObject) -> Pushed<'p> {
        // SAFETY: this function's contract is `plain`'s.
        let Some(value) = (unsafe { plain(p) }) else {
            return Pushed::Other;
        };
        if self.count == 0 {
            if !self.on || !matches!(value, Plain::Str(_)) {
                return Pushed::Declined(value);
            }
            self.buf.truncate(0);
            self.buf.extend_from_slice(&[VERSION, LIST_EXT, 0, 0, 0, 0]);
        }
        match value {
            Plain::Int(v) => self.int(v),
            Plain::Float(f) => self.float(f),
            Plain::Str(bytes) => {
                self.buf.push(BINARY_EXT);
                self.buf
                    .extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                self.buf.extend_from_slice(bytes);
            }
            Plain::None => self.atom(b"nil"),
            Plain::Bool(b) => self.atom(if b { b"true" } else { b"false" }),
        }
        self.count += 1;
        Pushed::Taken(value.weight())
    }

    fn int(&mut self, v: i64) {
        if (0..=255).contains(&v) {
            self.buf.extend_from_slice(&[SMALL_INTEGER_EXT, v as u8]);
        } else if let Ok(v) = i32::try_from(v) {
            self.buf.push(INTEGER_EXT);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else {
            // The decoder makes a small integer of it when it fits one.
            let magnitude = v.unsigned_abs().to_le_bytes();
            let n = 8 - magnitude.iter().rev().take_while(|b| **b == 0).count();
            self.buf
                .extend_from_slice(&[SMALL_BIG_EXT, n as u8, u8::from(v < 0)]);
            self.buf.extend_from_slice(&magnitude[..n]);
        }
    }

    fn float(&mut self, f: f64) {
        if f.is_finite() {
            self.buf.push(NEW_FLOAT_EXT);
            self.buf.extend_from_slice(&f.to_be_bytes());
        } else if f.is_nan() {
            self.atom(b"nan");
        } else if f > 0.0 {
            self.atom(b"infinity");
        } else {
            self.atom(b"neg_infinity");
        }
    }

    fn atom(&mut self, name: &[u8]) {
        self.buf.push(SMALL_ATOM_UTF8_EXT);
        self.buf.push(name.len() as u8);
        self.buf.extend_from_slice(name);
    }

    /// The run's terms, in order, made in `env` and passed to `emit`; the run is empty
    /// afterwards.
    #[inline]
    pub fn decode(&mut self, env: Env<'_>, emit: impl FnMut(sys::ErlNifTerm)) {
        if self.count != 0 {
            self.decode_all(env, emit);
        }
    }

    fn decode_all(&mut self, env: Env<'_>, mut emit: impl FnMut(sys::ErlNifTerm)) {
        let list = self.decode_list(env);
        let items: ListIterator = list.decode().expect("a run decodes to a list");
        for item in items {
            emit(item.as_c_arg());
        }
    }

    /// The run as one list made in `env` (a container whose items all joined the run is
    /// that list: its terms need not be taken out and put in a new list); the run is
    /// empty afterwards.
    pub fn into_list<'a>(&mut self, env: Env<'a>) -> Term<'a> {
        if self.count == 0 {
            return Vec::<Term<'a>>::new().encode(env);
        }
        self.decode_list(env)
    }

    fn decode_list<'a>(&mut self, env: Env<'a>) -> Term<'a> {
        self.buf[2..HEADER].copy_from_slice(&self.count.to_be_bytes());
        self.buf.push(NIL_EXT);
        // SAFETY: the buffer is a complete external term, encoded above.
        let decoded = unsafe { env.binary_to_term_trusted(&self.buf) };
        let (list, _) = decoded.expect("a run of plain values always decodes");
        self.buf.truncate(HEADER);
        self.count = 0;
        list
    }
}
