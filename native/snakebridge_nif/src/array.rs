//! `%SnakeBridge.Array{data, type, shape}` both ways: any object with a numeric buffer
//! (numpy arrays, `array.array`, `memoryview`) to a binary with Nx's type tuple and the
//! shape, and an Array argument to a numpy array (a `memoryview` without numpy).
//!
//! Large data is never copied: a contiguous buffer of `SHARE_AT` bytes or more becomes a
//! resource binary holding the exporter's buffer (`shared_binary`, whose destructor
//! never takes the GIL), and a large Array argument is exported to Python from the
//! BEAM binary itself, read-only, kept alive by a process-independent env.

use std::ffi::{c_int, c_void};

use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use rustler::env::{OwnedEnv, SavedTerm};
use rustler::types::atom::Atom;
use rustler::{Binary, Encoder, Env, Term};

use crate::atoms::{__struct__, c, data, f, s, sb_array, shape, type_, u};
use crate::enif;
use crate::shared_binary::SHARE_AT;

/// What one element is: Nx's kind (`:s`, `:u`, `:f`, `:c`) and bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Elem {
    kind: Kind,
    bits: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    S,
    U,
    F,
    C,
}

impl Elem {
    fn bytes(self) -> usize {
        self.bits as usize / 8
    }

    /// Nx's `{kind, bits}`.
    fn term(self, env: Env<'_>) -> Term<'_> {
        let kind = match self.kind {
            Kind::S => s(),
            Kind::U => u(),
            Kind::F => f(),
            Kind::C => c(),
        };
        (kind, self.bits).encode(env)
    }

    /// The element of a buffer `format` (the struct module's syntax) of `itemsize` bytes,
    /// and whether its bytes are in the other order than this machine's. `None` for what
    /// is no single number (records, pointers, `long double`, counts such as `2d`).
    fn of_format(format: &str, itemsize: usize) -> Option<(Elem, bool)> {
        let (big, code) = match format.as_bytes().first()? {
            b'@' | b'=' => (cfg!(target_endian = "big"), &format[1..]),
            b'<' => (false, &format[1..]),
            b'>' | b'!' => (true, &format[1..]),
            _ => (cfg!(target_endian = "big"), format),
        };
        let kind = match code {
            "b" | "h" | "i" | "l" | "q" | "n" => Kind::S,
            "B" | "H" | "I" | "L" | "Q" | "N" | "?" | "c" => Kind::U,
            "e" | "f" | "d" => Kind::F,
            "Zf" | "Zd" => Kind::C,
            _ => return None,
        };
        let bits = u32::try_from(itemsize * 8).ok()?;
        let elem = Elem { kind, bits };
        elem.valid()
            .then_some((elem, big != cfg!(target_endian = "big")))
    }

    fn valid(self) -> bool {
        match self.kind {
            Kind::S | Kind::U => matches!(self.bits, 8 | 16 | 32 | 64),
            Kind::F => matches!(self.bits, 16 | 32 | 64),
            Kind::C => matches!(self.bits, 64 | 128),
        }
    }

    /// Its buffer format (native order and standard sizes).
    fn format(self) -> &'static std::ffi::CStr {
        match (self.kind, self.bits) {
            (Kind::S, 8) => c"b",
            (Kind::S, 16) => c"h",
            (Kind::S, 32) => c"i",
            (Kind::S, _) => c"q",
            (Kind::U, 8) => c"B",
            (Kind::U, 16) => c"H",
            (Kind::U, 32) => c"I",
            (Kind::U, _) => c"Q",
            (Kind::F, 16) => c"e",
            (Kind::F, 32) => c"f",
            (Kind::F, _) => c"d",
            (Kind::C, 64) => c"Zf",
            (Kind::C, _) => c"Zd",
        }
    }
}

// ---------------------------------------------------------------- Python -> Elixir

/// A buffer taken from an exporter, released (with the GIL: every owner of a `View`
/// drops it attached) when dropped. Boxed: the exporter may keep its address.
struct View(Box<ffi::Py_buffer>);

impl Drop for View {
    fn drop(&mut self) {
        // SAFETY: the buffer was filled by a successful PyObject_GetBuffer and is released
        // once, here; every owner drops a View while attached (see the type's comment).
        unsafe { ffi::PyBuffer_Release(&mut *self.0) };
    }
}

// SAFETY: a View is only read, and dropped, by a thread attached to Python (the GIL
// serialises them); the raw pointers are the exporter's, valid until the release.
unsafe impl Send for View {}
// SAFETY: as above.
unsafe impl Sync for View {}

/// The Python object that owns a shared Array's buffer (held by a resource binary).
#[pyclass(frozen, module = "snakebridge", name = "HeldBuffer")]
struct HeldBuffer {
    _view: View,
}

/// `%SnakeBridge.Array{}` for `obj` and the bytes of its data, or `None` when it has no
/// numeric buffer (`strict`: a Python error saying why instead).
pub fn term<'a>(
    env: Env<'a>,
    obj: &Bound<'_, PyAny>,
    strict: bool,
) -> PyResult<Option<(Term<'a>, usize)>> {
    let py = obj.py();
    let refuse = |e: PyErr| if strict { Err(e) } else { Ok(None) };
    // SAFETY: attached (the Bound proves it); the check only reads the object's type.
    if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 0 {
        return refuse(PyTypeError::new_err(format!(
            "a {} has no buffer: no SnakeBridge.Array",
            obj.get_type().name()?
        )));
    }
    // numpy's scalars export buffers too: they are values (or Refs), not Arrays.
    if !strict && numpy_scalar(obj) {
        return Ok(None);
    }
    let mut raw = Box::new(ffi::Py_buffer::new());
    // SAFETY: attached; `raw` is a writable Py_buffer; a failure sets a Python error and
    // leaves nothing to release.
    if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *raw, ffi::PyBUF_RECORDS_RO) } != 0 {
        return refuse(PyErr::fetch(py));
    }
    let view = View(raw);
    let v = &*view.0;
    let format = if v.format.is_null() {
        "B".to_owned()
    } else {
        // SAFETY: a non-NULL format is a NUL-terminated string owned by the buffer.
        unsafe { std::ffi::CStr::from_ptr(v.format) }
            .to_string_lossy()
            .into_owned()
    };
    let Some((elem, swap)) = Elem::of_format(&format, v.itemsize as usize) else {
        return refuse(PyTypeError::new_err(format!(
            "buffer format {format:?} is no number SnakeBridge.Array holds"
        )));
    };
    let ndim = v.ndim.max(0) as usize;
    let dims: Vec<i64> = if v.shape.is_null() {
        // Only a 0-d buffer may have no shape (RECORDS_RO asks for one).
        Vec::new()
    } else {
        // SAFETY: `shape` holds `ndim` sizes (the buffer protocol).
        unsafe { std::slice::from_raw_parts(v.shape, ndim) }
            .iter()
            .map(|&d| d as i64)
            .collect()
    };
    let len = v.len.max(0) as usize;
    // SAFETY: a filled Py_buffer; the check only reads it.
    let contiguous = unsafe { ffi::PyBuffer_IsContiguous(v, b'C' as std::ffi::c_char) } != 0;
    let data_term = if contiguous && !swap && len >= SHARE_AT {
        let buf = v.buf as *const u8;
        let owner = Bound::new(py, HeldBuffer { _view: view })?;
        // SAFETY: `buf` is `len` bytes of the buffer `owner` holds until it is dropped. The
        // exporter keeps that memory (and its size: an exported array.array or bytearray
        // cannot be resized) while the buffer is held; its contents are the array's,
        // which Python code may still write: the README says so (copy to freeze).
        unsafe { crate::shared_binary::make(env, owner.as_any(), buf, len) }
    } else {
        // SAFETY: the binary is filled just below before it is read.
        let (t, dst) = unsafe { enif::new_binary(env, len) };
        if len > 0 {
            // SAFETY: `dst` is writable for `len` bytes, the buffer's size; CPython copies
            // in C order whatever the strides (a NULL-free error check follows). The view
            // is only read (its parameter is `const` from Python 3.11; before, the
            // declaration is `*mut`, hence the cast).
            let rc = unsafe {
                ffi::PyBuffer_ToContiguous(
                    dst.cast::<c_void>(),
                    std::ptr::from_ref(v).cast_mut(),
                    len as ffi::Py_ssize_t,
                    b'C' as std::ffi::c_char,
                )
            };
            if rc != 0 {
                return Err(PyErr::fetch(py));
            }
            if swap {
                // SAFETY: `dst` holds `len` initialised bytes now, owned by this binary.
                let bytes = unsafe { std::slice::from_raw_parts_mut(dst, len) };
                let part = if elem.kind == Kind::C {
                    elem.bytes() / 2
                } else {
                    elem.bytes()
                };
                bytes.chunks_exact_mut(part).for_each(<[u8]>::reverse);
            }
        }
        drop(view);
        t
    };
    // SAFETY: every term belongs to `env`.
    let shape_term = unsafe {
        let items: Vec<_> = dims.iter().map(|d| d.encode(env).as_c_arg()).collect();
        enif::tuple(env, &items)
    };
    let keys = [
        __struct__().as_c_arg(),
        data().as_c_arg(),
        type_().as_c_arg(),
        shape().as_c_arg(),
    ];
    let values = [
        sb_array().as_c_arg(),
        data_term,
        elem.term(env).as_c_arg(),
        shape_term,
    ];
    // SAFETY: equal lengths, every term made in `env` (atoms belong to every env).
    let map = unsafe { enif::map(env, &keys, &values) }
        .ok_or_else(|| pyo3::exceptions::PyMemoryError::new_err("could not build a struct"))?;
    // SAFETY: made in `env` just above.
    Ok(Some((unsafe { Term::new(env, map) }, len)))
}

/// Whether `obj` is a numpy scalar (numpy's type that is no array), by its type's names.
fn numpy_scalar(obj: &Bound<'_, PyAny>) -> bool {
    let ty = obj.get_type();
    ty.module().is_ok_and(|m| m == "numpy")
        && !ty
            .name()
            .is_ok_and(|n| n == "ndarray" || n == "matrix" || n == "memmap")
}

// ---------------------------------------------------------------- Elixir -> Python

/// Where a `BeamBuffer`'s bytes are.
enum Bytes {
    /// A small binary, copied.
    Copied(Box<[u8]>),
    /// A large binary, kept alive by `_env` (a process-independent env holding it).
    Shared {
        _saved: SavedTerm,
        _env: OwnedEnv,
        ptr: *const u8,
        len: usize,
    },
}

impl Bytes {
    fn as_ptr_len(&self) -> (*const u8, usize) {
        match self {
            Bytes::Copied(b) => (b.as_ptr(), b.len()),
            Bytes::Shared { ptr, len, .. } => (*ptr, *len),
        }
    }
}

// SAFETY: the bytes are never written (the buffer is exported read-only); an OwnedEnv may
// be freed from any thread (enif_free_env of a process-independent env), which happens
// once, when the object is deallocated.
unsafe impl Send for Bytes {}
// SAFETY: as above: shared reads only.
unsafe impl Sync for Bytes {}

/// A read-only buffer over an Array's bytes, with its format and shape.
#[pyclass(frozen, module = "snakebridge", name = "BeamBuffer")]
pub struct BeamBuffer {
    bytes: Bytes,
    format: &'static std::ffi::CStr,
    itemsize: ffi::Py_ssize_t,
    shape: Vec<ffi::Py_ssize_t>,
    strides: Vec<ffi::Py_ssize_t>,
}

#[pymethods]
impl BeamBuffer {
    /// # Safety
    /// Called by CPython with a writable `view`.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("no view to fill"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err(
                "a SnakeBridge.Array is read-only in Python (copy it to write)",
            ));
        }
        let me = slf.get();
        let (ptr, len) = me.bytes.as_ptr_len();
        // SAFETY: `view` is CPython's to fill (checked non-NULL). Every pointer stored in
        // it (data, format, shape, strides) belongs to this frozen object, which the view
        // holds (`obj`, a new reference) until it is released.
        unsafe {
            let v = &mut *view;
            v.buf = ptr as *mut c_void;
            v.len = len as ffi::Py_ssize_t;
            v.readonly = 1;
            v.suboffsets = std::ptr::null_mut();
            v.internal = std::ptr::null_mut();
            if flags & ffi::PyBUF_FORMAT != 0 {
                v.format = me.format.as_ptr() as *mut _;
                v.itemsize = me.itemsize;
            } else {
                v.format = std::ptr::null_mut();
                v.itemsize = 1;
            }
            if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
                v.ndim = me.shape.len() as c_int;
                v.shape = me.shape.as_ptr() as *mut _;
                v.strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                    me.strides.as_ptr() as *mut _
                } else {
                    std::ptr::null_mut()
                };
            } else {
                // A consumer that asks for no shape reads plain bytes.
                v.ndim = 1;
                v.shape = std::ptr::null_mut();
                v.strides = std::ptr::null_mut();
            }
            v.obj = slf.into_any().into_ptr();
        }
        Ok(())
    }
}

/// numpy's `asarray`, once numpy imports (a failed import is tried again next time: the
/// path may change).
fn asarray(py: Python<'_>) -> Option<&Bound<'_, PyAny>> {
    static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    if let Some(f) = ASARRAY.get(py) {
        return Some(f.bind(py));
    }
    let f = py
        .import("numpy")
        .and_then(|np| np.getattr("asarray"))
        .ok()?;
    Some(ASARRAY.get_or_init(py, || f.unbind()).bind(py))
}

/// The Python value of `%SnakeBridge.Array{}`: a read-only numpy array over its bytes (a
/// `memoryview` without numpy). `None` when its fields do not describe an array (a type
/// Python has no format for, such as `{:bf, 16}`, or data of another size than the shape
/// says): the caller reports the struct.
pub fn to_py<'py>(py: Python<'py>, term: Term<'_>) -> Option<PyResult<Bound<'py, PyAny>>> {
    let env = term.get_env();
    let data_t = term.map_get(data().encode(env)).ok()?;
    let bin = Binary::from_term(data_t).ok()?;
    let (kind, bits): (Atom, u32) = term.map_get(type_().encode(env)).ok()?.decode().ok()?;
    let kind = [
        (s(), Kind::S),
        (u(), Kind::U),
        (f(), Kind::F),
        (c(), Kind::C),
    ]
    .into_iter()
    .find(|(a, _)| *a == kind)
    .map(|(_, k)| k)?;
    let elem = Elem { kind, bits };
    if !elem.valid() {
        return None;
    }
    let dims = rustler::types::tuple::get_tuple(term.map_get(shape().encode(env)).ok()?).ok()?;
    let mut shape_v = Vec::with_capacity(dims.len());
    let mut count: usize = 1;
    for d in dims {
        let n: u64 = d.decode().ok()?;
        let n = usize::try_from(n).ok()?;
        count = count.checked_mul(n)?;
        shape_v.push(ffi::Py_ssize_t::try_from(n).ok()?);
    }
    if count.checked_mul(elem.bytes())? != bin.len() {
        return None;
    }
    let mut strides = vec![0; shape_v.len()];
    let mut step = elem.bytes() as ffi::Py_ssize_t;
    for (i, n) in shape_v.iter().enumerate().rev() {
        strides[i] = step;
        step = step.saturating_mul((*n).max(1));
    }
    let bytes = if bin.len() < SHARE_AT {
        Bytes::Copied(bin.as_slice().into())
    } else {
        let owned = OwnedEnv::new();
        let saved = owned.save(data_t);
        // The copy's own view of the data: for a reference-counted binary the same memory,
        // now held by `owned` until it is freed.
        let (ptr, len) = owned
            .run(|e| Binary::from_term(saved.load(e)).map(|b| (b.as_slice().as_ptr(), b.len())))
            .ok()?;
        Bytes::Shared {
            _saved: saved,
            _env: owned,
            ptr,
            len,
        }
    };
    let buffer = BeamBuffer {
        bytes,
        format: elem.format(),
        itemsize: elem.bytes() as ffi::Py_ssize_t,
        shape: shape_v,
        strides,
    };
    let made = (|| {
        let buffer = Bound::new(py, buffer)?;
        match asarray(py) {
            Some(asarray) => asarray.call1((buffer,)),
            // SAFETY: attached; a NULL result becomes the Python error it set.
            None => unsafe {
                Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(buffer.as_ptr()))
            },
        }
    })();
    Some(made)
}
