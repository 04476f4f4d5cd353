//! Values both ways: Elixir terms to Python objects and back (the README's table).

use std::sync::Arc;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFrozenSet, PySet, PyString, PyTuple};
use rustler::sys;
use rustler::types::atom::Atom;
use rustler::types::map::MapIterator;
use rustler::{BigInt, Binary, Encoder, Env, ListIterator, ResourceArc, Term, TermType};

use crate::atoms::{
    arg, duplicate_key, element, index, infinity, key, kwarg, map, mapset, nan, neg_infinity, nil,
    unconvertible_term, version,
};
use crate::enif;
use crate::objects::{self, Ctx, ObjInner, PyObj};
use crate::stream;

/// Nesting deeper than this is refused: conversion recurses (on the large stack of
/// `bigstack`), and a cyclic Python list would otherwise recurse forever.
pub const MAX_DEPTH: u32 = 1000;

fn check_depth(depth: u32) -> PyResult<()> {
    if depth >= MAX_DEPTH {
        return Err(pyo3::exceptions::PyRecursionError::new_err(format!(
            "value nested deeper than {MAX_DEPTH} levels (or cyclic) cannot be converted"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- Elixir -> Python

/// Where in the arguments a term sat: rendered by Elixir as `args[0]["key"][2]`.
pub enum Seg<'a> {
    Arg(usize),
    Kwarg(Term<'a>),
    Index(usize),
    Key(Term<'a>),
    Element,
}

pub enum ToPyError<'a> {
    Unconvertible {
        term: Term<'a>,
        path: Vec<Seg<'a>>,
    },
    /// Two keys of one map (or two members of a MapSet, two keyword names) became the
    /// same Python value: `term` is the later one.
    Duplicate {
        term: Term<'a>,
        path: Vec<Seg<'a>>,
    },
    Python(PyErr),
    /// The call ran out of time (or was cancelled) before Python was called.
    Stop(crate::error::Error),
}

impl<'a> ToPyError<'a> {
    fn at(mut self, seg: Seg<'a>) -> Self {
        if let ToPyError::Unconvertible { path, .. } | ToPyError::Duplicate { path, .. } = &mut self
        {
            path.push(seg);
        }
        self
    }

    /// `{:unconvertible, term, path}` for the Elixir side, or a Python error.
    pub fn into_result(self, env: Env<'a>) -> Result<Term<'a>, crate::error::Error> {
        match self {
            ToPyError::Python(e) => Err(e.into()),
            ToPyError::Stop(e) => Err(e),
            ToPyError::Unconvertible { term, path } => {
                Ok((unconvertible_term(), term, segs(env, &path)).encode(env))
            }
            ToPyError::Duplicate { term, path } => {
                Ok((duplicate_key(), term, segs(env, &path)).encode(env))
            }
        }
    }
}

fn segs<'a>(env: Env<'a>, path: &[Seg<'a>]) -> Vec<Term<'a>> {
    path.iter()
        .rev()
        .map(|s| match s {
            Seg::Arg(i) => (arg(), *i).encode(env),
            Seg::Kwarg(k) => (kwarg(), *k).encode(env),
            Seg::Index(i) => (index(), *i).encode(env),
            Seg::Key(k) => (key(), *k).encode(env),
            Seg::Element => element().encode(env),
        })
        .collect()
}

fn duplicate(term: Term<'_>) -> ToPyError<'_> {
    ToPyError::Duplicate {
        term,
        path: Vec::new(),
    }
}

impl From<PyErr> for ToPyError<'_> {
    fn from(e: PyErr) -> Self {
        ToPyError::Python(e)
    }
}

fn unconvertible(term: Term<'_>) -> ToPyError<'_> {
    ToPyError::Unconvertible {
        term,
        path: Vec::new(),
    }
}

/// Positional arguments: a list of terms becomes a tuple.
pub fn args_to_py<'py, 'a>(
    py: Python<'py>,
    argv: Term<'a>,
) -> Result<Bound<'py, PyTuple>, ToPyError<'a>> {
    let n = argv.list_length().map_err(|_| unconvertible(argv))?;
    let iter: ListIterator<'a> = argv.decode().map_err(|_| unconvertible(argv))?;
    // SAFETY: attached; PyTuple_New's NULL is turned into an error. Each slot of the new
    // tuple is set exactly once (PyTuple_SET_ITEM steals the reference) before the tuple
    // is used, and a failure drops the tuple with its NULL slots, which CPython allows.
    unsafe {
        // Filled in place: no intermediate vectors on the call path.
        let tuple = Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(n as ffi::Py_ssize_t))?
            .cast_into_unchecked::<PyTuple>();
        // Hidden from the garbage collector while it has empty slots: converting may let
        // other Python threads run (gc.get_objects() must not see a NULL item).
        if n > 0 {
            ffi::PyObject_GC_UnTrack(tuple.as_ptr().cast());
        }
        for (i, t) in iter.enumerate() {
            let item = to_py(py, t, false).map_err(|e| e.at(Seg::Arg(i)))?;
            ffi::PyTuple_SET_ITEM(tuple.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr());
        }
        if n > 0 {
            ffi::PyObject_GC_Track(tuple.as_ptr().cast());
        }
        Ok(tuple)
    }
}

/// Keyword options (`[key: value]`) become a dict of str keys; `None` when empty.
pub fn kwargs_to_py<'py, 'a>(
    py: Python<'py>,
    kwargs: Term<'a>,
) -> Result<Option<Bound<'py, PyDict>>, ToPyError<'a>> {
    let items: Vec<(Term<'a>, Term<'a>)> = kwargs.decode().map_err(|_| unconvertible(kwargs))?;
    if items.is_empty() {
        return Ok(None);
    }
    let dict = PyDict::new(py);
    for (n, (k, v)) in items.into_iter().enumerate() {
        let name = match k.atom_to_string() {
            Ok(s) => s,
            Err(_) => k.decode::<String>().map_err(|_| unconvertible(k))?,
        };
        let value = to_py(py, v, false).map_err(|e| e.at(Seg::Kwarg(k)))?;
        dict.set_item(name, value)?;
        // A name given twice would be silently dropped.
        if dict.len() != n + 1 {
            return Err(duplicate(k));
        }
    }
    Ok(Some(dict))
}

/// One term. `hashable` asks for the hashable form (frozenset) for dict keys and set items.
pub fn to_py<'py, 'a>(
    py: Python<'py>,
    term: Term<'a>,
    hashable: bool,
) -> Result<Bound<'py, PyAny>, ToPyError<'a>> {
    to_py_at(py, term, hashable, 0)
}

fn to_py_at<'py, 'a>(
    py: Python<'py>,
    term: Term<'a>,
    hashable: bool,
    depth: u32,
) -> Result<Bound<'py, PyAny>, ToPyError<'a>> {
    check_depth(depth)?;
    let obj = match term.get_type() {
        TermType::Atom => atom_to_py(py, term)?,
        TermType::Integer => match term.decode::<i64>() {
            // SAFETY: attached; PyLong_FromLongLong returns a new reference (it cannot
            // fail for an i64 short of memory exhaustion, which aborts).
            Ok(i) => unsafe { Bound::from_owned_ptr(py, ffi::PyLong_FromLongLong(i)) },
            Err(_) => {
                let big: BigInt = term.decode().map_err(|_| unconvertible(term))?;
                big_to_py(py, &big)?
            }
        },
        TermType::Float => {
            let f: f64 = term.decode().map_err(|_| unconvertible(term))?;
            // SAFETY: attached; PyFloat_FromDouble returns a new reference.
            unsafe { Bound::from_owned_ptr(py, ffi::PyFloat_FromDouble(f)) }
        }
        TermType::Binary => {
            let bin = Binary::from_term(term).map_err(|_| unconvertible(term))?;
            binary_to_py(py, bin.as_slice())
        }
        TermType::List => {
            // An improper list has no length; check before iterating.
            if term.list_length().is_err() {
                return Err(unconvertible(term));
            }
            let iter: ListIterator = term.decode().map_err(|_| unconvertible(term))?;
            let mut out = Vec::new();
            for (i, t) in iter.enumerate() {
                out.push(to_py_at(py, t, hashable, depth + 1).map_err(|e| e.at(Seg::Index(i)))?);
            }
            if hashable {
                PyTuple::new(py, out)?.into_any()
            } else {
                pyo3::types::PyList::new(py, out)?.into_any()
            }
        }
        TermType::Tuple => {
            let items = rustler::types::tuple::get_tuple(term).map_err(|_| unconvertible(term))?;
            let mut out = Vec::with_capacity(items.len());
            for (i, t) in items.into_iter().enumerate() {
                out.push(to_py_at(py, t, hashable, depth + 1).map_err(|e| e.at(Seg::Index(i)))?);
            }
            PyTuple::new(py, out)?.into_any()
        }
        TermType::Map => map_to_py(py, term, hashable, depth)?,
        // Python can send to a pid, and call a function (elixir_calls.rs).
        TermType::Pid => {
            let pid = term.decode().map_err(|_| unconvertible(term))?;
            Bound::new(py, crate::elixir_calls::PyPid { pid })?.into_any()
        }
        TermType::Fun => Bound::new(py, crate::elixir_calls::PyFun::new(term))?.into_any(),
        _ => return Err(unconvertible(term)),
    };
    Ok(obj)
}

fn atom_to_py<'py, 'a>(
    py: Python<'py>,
    term: Term<'a>,
) -> Result<Bound<'py, PyAny>, ToPyError<'a>> {
    let atom: Atom = term.decode().map_err(|_| unconvertible(term))?;
    let obj = if atom == nil() {
        py.None().into_bound(py)
    } else if atom == rustler::types::atom::true_() {
        pyo3::types::PyBool::new(py, true).to_owned().into_any()
    } else if atom == rustler::types::atom::false_() {
        pyo3::types::PyBool::new(py, false).to_owned().into_any()
    } else if atom == infinity() {
        pyo3::types::PyFloat::new(py, f64::INFINITY).into_any()
    } else if atom == neg_infinity() {
        pyo3::types::PyFloat::new(py, f64::NEG_INFINITY).into_any()
    } else if atom == nan() {
        pyo3::types::PyFloat::new(py, f64::NAN).into_any()
    } else {
        let name = term.atom_to_string().map_err(|_| unconvertible(term))?;
        PyString::new(py, &name).into_any()
    };
    Ok(obj)
}

/// In hexadecimal: Python limits decimal conversions of ints to 4300 digits.
fn big_to_py<'py>(py: Python<'py>, big: &BigInt) -> PyResult<Bound<'py, PyAny>> {
    let digits = std::ffi::CString::new(big.to_str_radix(16)).expect("digits have no NUL");
    // SAFETY: attached; `digits` is a NUL-terminated string alive for the call; a NULL
    // result becomes the Python error it set.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyLong_FromString(digits.as_ptr(), std::ptr::null_mut(), 16),
        )
    }
}

/// A Python int beyond 64 bits, through its hexadecimal digits.
/// The largest integer the BEAM takes from a NIF here: 2^24 bits (2 MiB) converts,
/// 2^25 bits comes back as an encoder error.
const MAX_INT_BITS: u64 = 1 << 24;

fn py_to_big(obj: &Bound<'_, PyAny>) -> PyResult<BigInt> {
    let bits: u64 = obj.call_method0("bit_length")?.extract()?;
    if bits > MAX_INT_BITS {
        return Err(pyo3::exceptions::PyOverflowError::new_err(format!(
            "an integer of {bits} bits is too large for the BEAM (at most {MAX_INT_BITS} bits)"
        )));
    }
    // SAFETY: attached (the Bound proves it); a NULL result becomes the error it set.
    let hex =
        unsafe { Bound::from_owned_ptr_or_err(obj.py(), ffi::PyNumber_ToBase(obj.as_ptr(), 16))? };
    let text = hex.cast::<PyString>()?.to_str()?.to_owned();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let digits = digits.trim_start_matches("0x");
    let big = BigInt::parse_bytes(digits.as_bytes(), 16)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("bad integer digits"))?;
    Ok(if negative { -big } else { big })
}

fn binary_to_py<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyAny> {
    // SAFETY: attached; `bytes` is valid for `len` bytes during the call (CPython copies
    // them), and a str is made only of valid UTF-8.
    unsafe {
        let ptr = bytes.as_ptr() as *const std::os::raw::c_char;
        let len = bytes.len() as ffi::Py_ssize_t;
        if std::str::from_utf8(bytes).is_ok() {
            Bound::from_owned_ptr(py, ffi::PyUnicode_FromStringAndSize(ptr, len))
        } else {
            Bound::from_owned_ptr(py, ffi::PyBytes_FromStringAndSize(ptr, len))
        }
    }
}

fn struct_name(term: Term<'_>) -> Option<String> {
    let env = term.get_env();
    let name = term.map_get(crate::atoms::__struct__().encode(env)).ok()?;
    name.atom_to_string().ok()
}

/// Tells argument conversion to stop waiting for a busy stream (deadline, cancel).
pub type GiveUp = Box<dyn Fn() -> bool>;

thread_local! {
    /// Buffered stream items taken into the arguments being converted (raw terms of the
    /// call's env), given back to their streams if the conversion fails.
    static HANDED: std::cell::RefCell<Vec<(Arc<ObjInner>, Vec<sys::ErlNifTerm>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    static GIVE_UP: std::cell::RefCell<Option<GiveUp>> = const { std::cell::RefCell::new(None) };
}

fn giving_up() -> bool {
    GIVE_UP.with(|g| g.borrow().as_ref().is_some_and(|f| f()))
}

/// Converts a call's arguments and keyword arguments. Buffered stream items are taken
/// out of their streams as they are handed to Python, and given back if the conversion
/// fails; `give_up` ends a wait for a stream that another process is iterating.
pub fn call_args_to_py<'py, 'a>(
    py: Python<'py>,
    argv: Term<'a>,
    kwargs: Term<'a>,
    give_up: Option<GiveUp>,
) -> Result<(Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>), ToPyError<'a>> {
    HANDED.with(|h| h.borrow_mut().clear());
    GIVE_UP.with(|g| *g.borrow_mut() = give_up);
    let converted = args_to_py(py, argv).and_then(|a| kwargs_to_py(py, kwargs).map(|k| (a, k)));
    GIVE_UP.with(|g| *g.borrow_mut() = None);
    let handed = HANDED.with(|h| std::mem::take(&mut *h.borrow_mut()));
    if converted.is_err() {
        let env = argv.get_env();
        for (inner, raw) in handed {
            if let Some(stream) = &inner.stream {
                let terms: Vec<Term<'a>> = raw
                    .into_iter()
                    // SAFETY: the raw terms were made in `env` by `take_all` above.
                    .map(|t| unsafe { Term::new(env, t) })
                    .collect();
                if let Some(mut buf) = stream.lock_attached(py, &|| false) {
                    buf.push_front(&terms);
                }
            }
        }
    }
    converted
}

/// The object of a Ref or StreamRef. A stream with items pulled ahead (batching) is
/// passed as `chain(items, iterator)`, so Python sees exactly what Elixir has not.
fn stream_arg<'py, 'a>(
    py: Python<'py>,
    res: &ResourceArc<PyObj>,
    env: Env<'a>,
) -> Result<Bound<'py, PyAny>, ToPyError<'a>> {
    let obj = res.inner.obj(py).map_err(ToPyError::Stop)?;
    let Some(stream) = &res.inner.stream else {
        return Ok(obj);
    };
    // Python steps the iterator through the stream's lock, as Elixir does.
    let obj = Bound::new(py, crate::stream::LockedStream::new(res.inner.clone()))?.into_any();
    let items = {
        let Some(mut buf) = stream.lock_attached(py, &giving_up) else {
            return Err(ToPyError::Stop(crate::error::Error::Timeout));
        };
        if buf.buffered() == 0 {
            return Ok(obj);
        }
        buf.take_all(env)
    };
    let raw = items.iter().map(|t| t.as_c_arg()).collect();
    HANDED.with(|h| h.borrow_mut().push((res.inner.clone(), raw)));
    let mut pending = Vec::with_capacity(items.len());
    for t in items {
        pending.push(to_py(py, t, false)?);
    }
    let chain = py.import("itertools")?.getattr("chain")?;
    Ok(chain.call1((pyo3::types::PyList::new(py, pending)?, obj))?)
}

fn map_to_py<'py, 'a>(
    py: Python<'py>,
    term: Term<'a>,
    hashable: bool,
    depth: u32,
) -> Result<Bound<'py, PyAny>, ToPyError<'a>> {
    let env = term.get_env();
    match struct_name(term).as_deref() {
        None => {}
        Some("Elixir.MapSet") => {
            let inner = term
                .map_get(map().encode(env))
                .map_err(|_| unconvertible(term))?;
            let iter = MapIterator::new(inner).ok_or_else(|| unconvertible(term))?;
            let mut items = Vec::new();
            for (k, _) in iter {
                items.push(to_py_at(py, k, true, depth + 1).map_err(|e| e.at(Seg::Element))?);
            }
            let set = if hashable {
                PyFrozenSet::new(py, &items)?.into_any()
            } else {
                PySet::new(py, &items)?.into_any()
            };
            if set.len()? != items.len() {
                return Err(set_duplicate(py, inner, &items));
            }
            return Ok(set);
        }
        Some("Elixir.SnakeBridge.StreamRef") | Some("Elixir.SnakeBridge.Ref") => {
            let res = term
                .map_get(crate::atoms::resource().encode(env))
                .and_then(|r| r.decode::<ResourceArc<PyObj>>())
                .map_err(|_| unconvertible(term))?;
            return stream_arg(py, &res, env);
        }
        // SnakeBridge.iter/2: an Elixir enumerable as a Python iterator or file.
        Some("Elixir.SnakeBridge.Iter") => return Ok(crate::iter_in::to_py(py, term)?),
        Some(name) => {
            return crate::values::struct_to_py(py, term, name).ok_or_else(|| unconvertible(term))
        }
    }
    if hashable {
        // A map as a dict key (or set member): Python has no hashable dict.
        return Err(unconvertible(term));
    }
    let dict = PyDict::new(py);
    let iter = MapIterator::new(term).ok_or_else(|| unconvertible(term))?;
    for (n, (k, v)) in iter.enumerate() {
        let pk = to_py_at(py, k, true, depth + 1).map_err(|e| e.at(Seg::Key(k)))?;
        let pv = to_py_at(py, v, false, depth + 1).map_err(|e| e.at(Seg::Key(k)))?;
        dict.set_item(pk, pv)?;
        // Two keys that became one Python key (`{1, 2}` and `[1, 2]`): an error, not a
        // silent loss (a length read per key).
        if dict.len() != n + 1 {
            return Err(duplicate(k));
        }
    }
    Ok(dict.into_any())
}

/// The MapSet member whose Python value another member already had (the error path:
/// the set is built again member by member, in the order `items` were converted).
fn set_duplicate<'py, 'a>(
    py: Python<'py>,
    inner: Term<'a>,
    items: &[Bound<'py, PyAny>],
) -> ToPyError<'a> {
    let seen = match PySet::empty(py) {
        Ok(seen) => seen,
        Err(e) => return e.into(),
    };
    let members = MapIterator::new(inner)
        .into_iter()
        .flatten()
        .map(|(k, _)| k);
    for (n, (item, k)) in items.iter().zip(members).enumerate() {
        if let Err(e) = seen.add(item) {
            return e.into();
        }
        if seen.len() != n + 1 {
            return duplicate(k);
        }
    }
    unconvertible(inner)
}

// ---------------------------------------------------------------- Python -> Elixir

/// A quick guess of the bytes an object's term will take, without converting it: its
/// own data for str and bytes, 16 bytes per element for containers (their elements are
/// not looked at).
pub fn approx_size(obj: &Bound<'_, PyAny>) -> usize {
    let p = obj.as_ptr();
    // SAFETY: attached (the Bound proves it); the checks only read the object's type, and
    // the sizes are read from objects of the type just checked.
    unsafe {
        if ffi::PyBytes_Check(p) != 0 {
            return ffi::PyBytes_Size(p).max(0) as usize + 16;
        }
        if ffi::PyUnicode_Check(p) != 0 {
            return ffi::PyUnicode_GetLength(p).max(0) as usize + 16;
        }
        let len = if ffi::PyList_Check(p) != 0 {
            ffi::PyList_GET_SIZE(p)
        } else if ffi::PyTuple_Check(p) != 0 {
            ffi::PyTuple_GET_SIZE(p)
        } else if ffi::PyDict_Check(p) != 0 {
            ffi::PyDict_Size(p)
        } else {
            0
        };
        (len.max(0) as usize + 1) * 16
    }
}

/// Lists and tuples of this many items gather their terms in one buffer kept between
/// conversions: a fresh one of a million terms (8 MB) took its page faults every time,
/// most of the converting thread's kernel time.
const KEEP_FROM: usize = 1 << 14;
/// The kept buffer's largest size, in terms (8 MiB); a larger one is freed after use.
const KEEP_AT_MOST: usize = 1 << 20;
static KEPT_ITEMS: std::sync::Mutex<Vec<sys::ErlNifTerm>> = std::sync::Mutex::new(Vec::new());

/// Runs `f` with an empty buffer for `n` terms: the kept one when `n` is large and it is
/// free (a nested list, or another thread converting while Python code runs, gets its
/// own), else a new one.
fn with_items<R>(n: usize, f: impl FnOnce(&mut Vec<sys::ErlNifTerm>) -> R) -> R {
    if n >= KEEP_FROM {
        let kept = match KEPT_ITEMS.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(mut items) = kept {
            items.clear();
            items.reserve(n);
            let result = f(&mut items);
            if items.capacity() > KEEP_AT_MOST {
                *items = Vec::new();
            }
            return result;
        }
    }
    f(&mut Vec::with_capacity(n))
}

/// Converts Python objects to terms in `env`; objects without an Elixir value become
/// Refs or StreamRefs that carry `ctx`.
pub struct ToTerm<'a> {
    pub env: Env<'a>,
    ctx: once_cell::unsync::OnceCell<Arc<Ctx>>,
    ctx_term: Option<Term<'a>>,
    /// Terms made so far: tells a large item from a small one (large binaries are
    /// reference-counted, so a copy of one costs the same as a small one).
    made: std::cell::Cell<usize>,
    /// About how many bytes the terms made so far take (backpressure in bytes).
    bytes: std::cell::Cell<usize>,
}

impl<'a> ToTerm<'a> {
    pub fn new(env: Env<'a>, ctx: &Arc<Ctx>) -> Self {
        ToTerm {
            env,
            ctx: once_cell::unsync::OnceCell::with_value(ctx.clone()),
            ctx_term: None,
            made: Default::default(),
            bytes: Default::default(),
        }
    }

    /// A binary of `len` bytes from `data`, owned by `obj`: shared with `obj` when large
    /// (a resource binary holding it), else copied.
    ///
    /// # Safety
    /// `data` is valid for `len` bytes and belongs to `obj` (immutable str/bytes data).
    unsafe fn binary(
        &self,
        obj: &Bound<'_, PyAny>,
        data: *const u8,
        len: usize,
    ) -> sys::ErlNifTerm {
        if len >= crate::shared_binary::SHARE_AT {
            // SAFETY: this function's contract is `make`'s.
            unsafe { crate::shared_binary::make(self.env, obj, data, len) }
        } else {
            // SAFETY: `data` is valid for `len` bytes (this function's contract).
            unsafe { enif::binary(self.env, data, len) }
        }
    }

    /// With the context still a term: decoded only if a Ref or StreamRef is made.
    pub fn lazy(env: Env<'a>, ctx_term: Term<'a>) -> Self {
        ToTerm {
            env,
            ctx: once_cell::unsync::OnceCell::new(),
            ctx_term: Some(ctx_term),
            made: Default::default(),
            bytes: Default::default(),
        }
    }

    pub fn made(&self) -> usize {
        self.made.get()
    }

    /// About how many bytes the terms made so far take.
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }

    /// Counts a term made elsewhere (see `etf::Run`) of about `bytes` bytes.
    pub fn count(&self, bytes: usize) {
        self.made.set(self.made.get() + 1);
        self.add_bytes(bytes);
    }

    fn add_bytes(&self, n: usize) {
        self.bytes.set(self.bytes.get().saturating_add(n));
    }

    fn ctx(&self) -> PyResult<Arc<Ctx>> {
        self.ctx
            .get_or_try_init(|| {
                let term = self.ctx_term.expect("a context");
                term.decode::<Ctx>().map(Arc::new).map_err(|_| {
                    pyo3::exceptions::PyTypeError::new_err("bad SnakeBridge call context")
                })
            })
            .cloned()
    }

    pub fn term(&self, obj: &Bound<'_, PyAny>) -> PyResult<Term<'a>> {
        // SAFETY: `raw` makes its term in `self.env`, which outlives 'a.
        unsafe { self.raw(obj, 0).map(|t| Term::new(self.env, t)) }
    }

    /// The term for `obj`: one branch per Python type with an Elixir value, else a Ref or
    /// StreamRef.
    ///
    /// # Safety
    /// The result belongs to `self.env`, which the caller keeps alive.
    unsafe fn raw(&self, obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<sys::ErlNifTerm> {
        // SAFETY: attached (the Bound proves it) and `obj` is live.
        if let Some(term) = unsafe { self.scalar(obj.as_ptr()) } {
            return Ok(term);
        }
        // SAFETY: this function's contract.
        unsafe { self.not_plain(obj, depth) }
    }

    /// The term of an object `etf::plain` declined (read already: not read again).
    ///
    /// # Safety
    /// The result belongs to this converter's env.
    pub unsafe fn not_plain_term(&self, obj: &Bound<'_, PyAny>) -> PyResult<sys::ErlNifTerm> {
        // SAFETY: the same contract as `not_plain`.
        unsafe { self.not_plain(obj, 0) }
    }

    /// `raw` past the plain values.
    ///
    /// # Safety
    /// The result belongs to `self.env`, which the caller keeps alive.
    unsafe fn not_plain(&self, obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<sys::ErlNifTerm> {
        check_depth(depth)?;
        self.made.set(self.made.get() + 1);
        self.add_bytes(16);
        let p = obj.as_ptr();
        // SAFETY: attached (the Bound proves it), and the checks only read `obj`'s type.
        // Each branch calls the function for exactly the type its check proved. (`None`
        // and booleans, which have no subclasses, are plain values: never here.)
        unsafe {
            if ffi::PyLong_Check(p) != 0 {
                return self.int(obj);
            }
            if ffi::PyFloat_Check(p) != 0 {
                return Ok(float_term(self.env, ffi::PyFloat_AsDouble(p)).as_c_arg());
            }
            if ffi::PyUnicode_Check(p) != 0 {
                return self.py_str(obj);
            }
            if ffi::PyBytes_Check(p) != 0 {
                return Ok(self.py_bytes(obj));
            }
            if ffi::PyList_Check(p) != 0 {
                return self.list(obj, depth);
            }
            if ffi::PyTuple_Check(p) != 0 {
                return self.tuple(obj, depth);
            }
            if ffi::PyDict_Check(p) != 0 {
                return self.dict(obj, depth);
            }
            if ffi::PyAnySet_Check(p) != 0 {
                return self.set(obj, depth);
            }
            if ffi::PyByteArray_Check(p) != 0 {
                return Ok(self.bytearray(obj));
            }
        }
        Ok(self.object(obj)?.as_c_arg())
    }

    /// A plain value (`etf::Plain`) converted from a borrowed pointer (no new reference:
    /// converting it runs no Python code, so the object cannot go away meanwhile); `None`
    /// for anything else, which takes the general path. The common items of big
    /// containers and batches.
    ///
    /// # Safety
    /// Attached, and `p` is a live object; the result belongs to `self.env`.
    #[inline]
    unsafe fn scalar(&self, p: *mut ffi::PyObject) -> Option<sys::ErlNifTerm> {
        // SAFETY: this function's contract is `plain`'s.
        let value = unsafe { crate::etf::plain(p) }?;
        Some(self.plain_term(value))
    }

    /// The term of a plain value already read (`etf::plain`), counted.
    #[inline(always)]
    pub fn plain_term(&self, value: crate::etf::Plain<'_>) -> sys::ErlNifTerm {
        use crate::etf::Plain;
        let term = match value {
            Plain::Int(v) => v.encode(self.env).as_c_arg(),
            Plain::Float(f) => float_term(self.env, f).as_c_arg(),
            // SAFETY: the bytes are valid for their length (a slice).
            Plain::Str(bytes) => unsafe { enif::binary(self.env, bytes.as_ptr(), bytes.len()) },
            Plain::None => nil().as_c_arg(),
            Plain::Bool(b) => b.encode(self.env).as_c_arg(),
        };
        self.count(value.weight());
        term
    }

    /// The terms of `items`, in order, appended to `out` (runs of plain items made
    /// together, see `etf`). At the first item that cannot be converted, the items
    /// before it are in `out` and its error is returned.
    pub fn extend_terms(
        &self,
        items: &[Bound<'_, PyAny>],
        out: &mut Vec<sys::ErlNifTerm>,
    ) -> PyResult<()> {
        let mut run = crate::etf::Run::for_len(items.len());
        let mut result = Ok(());
        for item in items {
            // SAFETY: attached (the Bound proves it), and `item` is live; the terms are
            // made in `self.env`.
            result = unsafe { self.push_item(item.py(), item.as_ptr(), 0, &mut run, out) };
            if result.is_err() {
                break;
            }
        }
        run.decode(self.env, |t| out.push(t));
        result
    }

    /// Appends the term of the borrowed item `p` to `out`, in order: a plain item waits
    /// in `run` (see `etf`), which is emptied into `out` before any other item. The
    /// caller empties it at the end (`run.decode(self.env, |t| out.push(t))`).
    ///
    /// # Safety
    /// Attached, and `p` is a live object; the terms belong to `self.env`.
    #[inline(always)]
    unsafe fn push_item(
        &self,
        py: Python<'_>,
        p: *mut ffi::PyObject,
        depth: u32,
        run: &mut crate::etf::Run,
        out: &mut Vec<sys::ErlNifTerm>,
    ) -> PyResult<()> {
        use crate::etf::Pushed;
        // SAFETY: this function's contract is `push`'s; the items in `out` and the run's
        // terms belong to `self.env`.
        match unsafe { run.push(p) } {
            Pushed::Taken(weight) => self.count(weight),
            Pushed::Declined(value) => {
                run.decode(self.env, |t| out.push(t));
                out.push(self.plain_term(value));
            }
            Pushed::Other => {
                run.decode(self.env, |t| out.push(t));
                // SAFETY: as above; converting it may run Python code that drops the
                // container's reference, so it gets an owned one.
                out.push(unsafe { self.not_plain(&Bound::from_borrowed_ptr(py, p), depth)? });
            }
        }
        Ok(())
    }

    /// # Safety
    /// `obj` is an int; the result belongs to `self.env`.
    unsafe fn int(&self, obj: &Bound<'_, PyAny>) -> PyResult<sys::ErlNifTerm> {
        let mut overflow = 0;
        // SAFETY: attached, and `obj` is an int; a -1 with an error set is an error.
        let small = unsafe {
            let v = ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow);
            if overflow == 0 && v == -1 && !ffi::PyErr_Occurred().is_null() {
                return Err(PyErr::fetch(obj.py()));
            }
            v
        };
        if overflow == 0 {
            return Ok(small.encode(self.env).as_c_arg());
        }
        let big = py_to_big(obj)?;
        self.add_bytes((big.bits() / 8) as usize);
        Ok(big.encode(self.env).as_c_arg())
    }

    /// # Safety
    /// `obj` is a str; the result belongs to `self.env`.
    unsafe fn py_str(&self, obj: &Bound<'_, PyAny>) -> PyResult<sys::ErlNifTerm> {
        let mut len: ffi::Py_ssize_t = 0;
        // SAFETY: attached, and `obj` is a str; NULL (a str with lone surrogates) is an
        // error, fetched.
        let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut len) };
        if data.is_null() {
            return Err(PyErr::fetch(obj.py()));
        }
        self.add_bytes(len as usize);
        // SAFETY: the UTF-8 buffer is cached in the str, immutable, `len` bytes long.
        Ok(unsafe { self.binary(obj, data as *const u8, len as usize) })
    }

    /// # Safety
    /// `obj` is a bytes; the result belongs to `self.env`.
    unsafe fn py_bytes(&self, obj: &Bound<'_, PyAny>) -> sys::ErlNifTerm {
        // SAFETY: attached, and `obj` is a bytes (never NULL data for a bytes object);
        // its data is immutable and `len` bytes long.
        unsafe {
            let data = ffi::PyBytes_AsString(obj.as_ptr());
            let len = ffi::PyBytes_Size(obj.as_ptr()) as usize;
            self.add_bytes(len);
            self.binary(obj, data as *const u8, len)
        }
    }

    /// # Safety
    /// `obj` is a bytearray; the result belongs to `self.env`.
    unsafe fn bytearray(&self, obj: &Bound<'_, PyAny>) -> sys::ErlNifTerm {
        // SAFETY: attached, and `obj` is a bytearray; it is copied at once (it is mutable,
        // so never shared), while the GIL keeps other threads from resizing it.
        unsafe {
            let data = ffi::PyByteArray_AsString(obj.as_ptr());
            let len = ffi::PyByteArray_Size(obj.as_ptr()) as usize;
            self.add_bytes(len);
            enif::binary(self.env, data as *const u8, len)
        }
    }

    /// # Safety
    /// `obj` is a list; the result belongs to `self.env`.
    unsafe fn list(&self, obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<sys::ErlNifTerm> {
        let (py, p) = (obj.py(), obj.as_ptr());
        // SAFETY: attached, and `obj` is a list.
        let n = unsafe { ffi::PyList_GET_SIZE(p) } as usize;
        with_items(n, |items| {
            let mut run = crate::etf::Run::for_len(n);
            let mut i = 0;
            // SAFETY: attached, and `obj` is a list.
            while i < unsafe { ffi::PyList_GET_SIZE(p) } {
                // SAFETY: as above. The size is re-read before each item (converting an
                // item may run Python code that shrinks the list), so the index is in
                // range; the terms are made in `self.env`, as this function's result.
                unsafe {
                    self.push_item(py, ffi::PyList_GET_ITEM(p, i), depth + 1, &mut run, items)?
                };
                i += 1;
            }
            if items.is_empty() {
                // Every item joined the run (or there are none): the run is the list.
                return Ok(run.into_list(self.env).as_c_arg());
            }
            run.decode(self.env, |t| items.push(t));
            // SAFETY: every item was made in `self.env`.
            Ok(unsafe { enif::list(self.env, items) })
        })
    }

    /// # Safety
    /// `obj` is a tuple; the result belongs to `self.env`.
    unsafe fn tuple(&self, obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<sys::ErlNifTerm> {
        let (py, p) = (obj.py(), obj.as_ptr());
        // SAFETY: attached, and `obj` is a tuple (immutable: its size is fixed).
        let n = unsafe { ffi::PyTuple_GET_SIZE(p) };
        with_items(n as usize, |items| {
            let mut run = crate::etf::Run::for_len(n as usize);
            for i in 0..n {
                // SAFETY: `i` < the tuple's size (the tuple holds the item); made in
                // `self.env`, as this function's result.
                unsafe {
                    self.push_item(py, ffi::PyTuple_GET_ITEM(p, i), depth + 1, &mut run, items)?
                };
            }
            run.decode(self.env, |t| items.push(t));
            // SAFETY: every item was made in `self.env`.
            Ok(unsafe { enif::tuple(self.env, items) })
        })
    }

    /// # Safety
    /// `obj` is a dict; the result belongs to `self.env`.
    unsafe fn dict(&self, obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<sys::ErlNifTerm> {
        let (py, p) = (obj.py(), obj.as_ptr());
        // SAFETY: attached, and `obj` is a dict.
        let n = unsafe { ffi::PyDict_Size(p) };
        let mut keys = Vec::with_capacity(n as usize);
        let mut values = Vec::with_capacity(n as usize);
        let (mut key_run, mut value_run) = (
            crate::etf::Run::for_len(n as usize),
            crate::etf::Run::for_len(n as usize),
        );
        let mut pos: ffi::Py_ssize_t = 0;
        let mut k: *mut ffi::PyObject = std::ptr::null_mut();
        let mut v: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: attached; PyDict_Next gives borrowed references, made owned at once
        // (converting may run Python code that changes the dict: a change of size is
        // caught below, and PyDict_Next itself stays in bounds).
        while unsafe { ffi::PyDict_Next(p, &mut pos, &mut k, &mut v) } != 0 {
            // SAFETY: as above.
            let (key, value) = unsafe {
                (
                    Bound::from_borrowed_ptr(py, k),
                    Bound::from_borrowed_ptr(py, v),
                )
            };
            // SAFETY: made in `self.env`, as this function's result; `key` and `value`
            // keep the objects alive.
            unsafe {
                self.push_item(py, key.as_ptr(), depth + 1, &mut key_run, &mut keys)?;
                self.push_item(py, value.as_ptr(), depth + 1, &mut value_run, &mut values)?;
            }
            // SAFETY: attached, and `obj` is a dict.
            if unsafe { ffi::PyDict_Size(p) } != n {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "dictionary changed size during conversion",
                ));
            }
        }
        key_run.decode(self.env, |t| keys.push(t));
        value_run.decode(self.env, |t| values.push(t));
        // SAFETY: attached; equal lengths, every term made in `self.env`.
        unsafe { crate::map_builder::map(py, self.env, &keys, &values) }
            .ok_or_else(|| pyo3::exceptions::PyMemoryError::new_err("could not build a map"))
    }

    /// A `MapSet`.
    ///
    /// # Safety
    /// `obj` is a set or frozenset; the result belongs to `self.env`.
    unsafe fn set(&self, obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<sys::ErlNifTerm> {
        let mut keys = Vec::new();
        for item in obj.try_iter()? {
            // SAFETY: made in `self.env`, as this function's result.
            keys.push(unsafe { self.raw(&item?, depth + 1)? });
        }
        let env = self.env;
        let empty = Vec::<Term>::new().encode(env).as_c_arg();
        let values = vec![empty; keys.len()];
        let failed = || pyo3::exceptions::PyMemoryError::new_err("could not build a map");
        // SAFETY: attached; equal lengths, every term made in `env`.
        let inner =
            unsafe { crate::map_builder::map(obj.py(), env, &keys, &values) }.ok_or_else(failed)?;
        let k = [
            crate::atoms::__struct__().as_c_arg(),
            map().as_c_arg(),
            version().as_c_arg(),
        ];
        let v = [mapset().as_c_arg(), inner, 2i64.encode(env).as_c_arg()];
        // SAFETY: equal lengths, every term made in `env` (atoms belong to every env).
        unsafe { enif::map(env, &k, &v) }.ok_or_else(failed)
    }

    /// An object with no Elixir value: a StreamRef when `iter::detect` calls it a stream
    /// (the rules are in guides/streaming.md), else a Ref.
    fn object(&self, obj: &Bound<'_, PyAny>) -> PyResult<Term<'a>> {
        // A StreamRef that went to Python comes back as the same StreamRef.
        if let Ok(locked) = obj.cast::<stream::LockedStream>() {
            return Ok(objects::stream_struct(self.env, locked.borrow().inner()));
        }
        // An Elixir pid or function that went to Python comes back as itself.
        if let Ok(pid) = obj.cast::<crate::elixir_calls::PyPid>() {
            return Ok(pid.get().pid.encode(self.env));
        }
        if let Ok(fun) = obj.cast::<crate::elixir_calls::PyFun>() {
            return Ok(fun.get().term(self.env));
        }
        // Dates and times (a few C type checks).
        if let Some(t) = crate::values::datetime_term(self.env, obj)? {
            return Ok(t);
        }
        if let Some(st) = snakebridge_core::iter::detect(obj) {
            let ctx = self.ctx()?;
            let state = stream::StreamState::new(obj, st, &ctx.library)?;
            let inner = objects::new_object(obj.clone().unbind(), ctx, Some(state));
            return Ok(objects::stream_struct(self.env, inner));
        }
        let ty = obj.get_type();
        let tname: String = ty.qualname().map(|s| s.to_string()).unwrap_or_default();
        let module: String = ty.module().map(|s| s.to_string()).unwrap_or_default();
        // Decimal, UUID, numpy scalars: by the names a Ref needs anyway.
        if let Some(t) = crate::values::by_type_name(self, obj, &module, &tname)? {
            return Ok(t);
        }
        let ctx = self.ctx()?;
        if ctx.arrays != objects::Arrays::Off {
            let strict = ctx.arrays == objects::Arrays::Strict;
            if let Some((t, len)) = crate::array::term(self.env, obj, strict)? {
                self.add_bytes(len);
                return Ok(t);
            }
        }
        let inner = objects::new_object(obj.clone().unbind(), ctx, None);
        Ok(objects::ref_struct(self.env, inner, &tname, &module))
    }
}

/// A float, or `:nan`/`:infinity`/`:neg_infinity` (not BEAM floats).
pub(crate) fn float_term(env: Env<'_>, f: f64) -> Term<'_> {
    if f.is_finite() {
        f.encode(env)
    } else if f.is_nan() {
        nan().encode(env)
    } else if f > 0.0 {
        infinity().encode(env)
    } else {
        neg_infinity().encode(env)
    }
}
