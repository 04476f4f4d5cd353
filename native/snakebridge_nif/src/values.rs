//! Values beyond the builtins (the lower rows of the README's Values table): dates and
//! times, `Decimal`, `UUID`, numpy scalars, and the structs `%SnakeBridge.Bytes{}` and
//! `%SnakeBridge.Decimal{}`. `convert` calls in here only for structs it does not know
//! and for objects that are no builtin value, so the common paths do not pay for them.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBytes, PyDate, PyDateAccess, PyDateTime, PyDelta, PyDeltaAccess, PyDict, PyTime,
    PyTimeAccess, PyTuple, PyType, PyTzInfo, PyTzInfoAccess,
};
use rustler::types::atom::Atom;
use rustler::{BigInt, Binary, Encoder, Env, Term};

use crate::convert::ToTerm;
use crate::enif;

use crate::atoms::{
    __struct__, calendar, calendar_iso, data, date, date_time, day, hour, microsecond, minute,
    month, naive_date_time, sb_decimal, second, std_offset, time, time_zone, utc_offset, value,
    year, zone_abbr,
};
// ---------------------------------------------------------------- Elixir -> Python

/// The Python value of a struct known by its name (`Date`, `DateTime`, `NaiveDateTime`,
/// `Time`, `SnakeBridge.Bytes`, `SnakeBridge.Decimal`). `None` for any other struct, and
/// for one whose fields have no Python value (a date Python cannot hold, a year 0, a
/// calendar other than `Calendar.ISO`, a `Decimal` string Python does not parse): the
/// caller reports the struct as unconvertible.
pub fn struct_to_py<'py>(py: Python<'py>, term: Term<'_>, name: &str) -> Option<Bound<'py, PyAny>> {
    let made = match name {
        "Elixir.Date" => iso(term).and_then(|_| date_to_py(py, term)),
        "Elixir.NaiveDateTime" => iso(term).and_then(|_| datetime_to_py(py, term, None)),
        "Elixir.DateTime" => iso(term).and_then(|_| {
            let offset: i32 = field(term, utc_offset())?;
            let dst: i32 = field(term, std_offset())?;
            datetime_to_py(py, term, Some(offset.checked_add(dst)?))
        }),
        "Elixir.Time" => iso(term).and_then(|_| time_to_py(py, term)),
        "Elixir.SnakeBridge.Bytes" => {
            let bin: Binary = field(term, data())?;
            Some(Ok(PyBytes::new(py, bin.as_slice()).into_any()))
        }
        "Elixir.SnakeBridge.Decimal" => {
            let text: &str = field(term, value())?;
            Some(decimal_type(py).and_then(|d| d.call1((text,))))
        }
        "Elixir.SnakeBridge.Complex" | "Elixir.Complex" => crate::science::complex_to_py(py, term),
        "Elixir.SnakeBridge.Array" => crate::array::to_py(py, term),
        _ => None,
    };
    // A Python error (ValueError for day 31 of February) means the struct has no value.
    made?.ok()
}

fn field<'a, T: rustler::Decoder<'a>>(term: Term<'a>, key: Atom) -> Option<T> {
    term.map_get(key.encode(term.get_env())).ok()?.decode().ok()
}

fn iso(term: Term<'_>) -> Option<()> {
    (field::<Atom>(term, calendar())? == calendar_iso()).then_some(())
}

fn ymd(term: Term<'_>) -> Option<(i32, u8, u8)> {
    Some((
        field(term, year())?,
        field(term, month())?,
        field(term, day())?,
    ))
}

/// Hour, minute, second, microsecond (`{value, precision}` in Elixir).
fn hmsu(term: Term<'_>) -> Option<(u8, u8, u8, u32)> {
    let (us, _precision): (u32, u32) = field(term, microsecond())?;
    Some((
        field(term, hour())?,
        field(term, minute())?,
        field(term, second())?,
        us,
    ))
}

fn date_to_py<'py>(py: Python<'py>, term: Term<'_>) -> Option<PyResult<Bound<'py, PyAny>>> {
    let (y, m, d) = ymd(term)?;
    Some(PyDate::new(py, y, m, d).map(Bound::into_any))
}

/// A naive datetime, or an aware one with a fixed UTC offset of `offset` seconds.
fn datetime_to_py<'py>(
    py: Python<'py>,
    term: Term<'_>,
    offset: Option<i32>,
) -> Option<PyResult<Bound<'py, PyAny>>> {
    let (y, mo, d) = ymd(term)?;
    let (h, mi, s, us) = hmsu(term)?;
    let made = (|| {
        let tz = match offset {
            None => None,
            Some(0) => Some(PyTzInfo::utc(py)?.to_owned()),
            Some(secs) => Some(PyTzInfo::fixed_offset(
                py,
                PyDelta::new(py, 0, secs, 0, true)?,
            )?),
        };
        PyDateTime::new(py, y, mo, d, h, mi, s, us, tz.as_ref()).map(Bound::into_any)
    })();
    Some(made)
}

fn time_to_py<'py>(py: Python<'py>, term: Term<'_>) -> Option<PyResult<Bound<'py, PyAny>>> {
    let (h, m, s, us) = hmsu(term)?;
    Some(PyTime::new(py, h, m, s, us, None).map(Bound::into_any))
}

fn decimal_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    DECIMAL.import(py, "decimal", "Decimal")
}

// ---------------------------------------------------------------- Python -> Elixir

/// The term of a `datetime`, `date`, `time` or `timedelta` (subclasses too, such as
/// pandas' `Timestamp`), or `None` for any other object. Checked by C type, before the
/// object's type name is read.
pub fn datetime_term<'a>(env: Env<'a>, obj: &Bound<'_, PyAny>) -> PyResult<Option<Term<'a>>> {
    if let Ok(dt) = obj.cast::<PyDateTime>() {
        // pandas' NaT is a datetime whose every method raises.
        if crate::science::is_nat(obj) {
            return Ok(Some(crate::atoms::nil().encode(env)));
        }
        // Aware when utcoffset() is not None (Python's rule): then as UTC.
        let offset = dt.call_method0("utcoffset")?;
        if offset.is_none() {
            return naive_datetime_term(env, dt).map(Some);
        }
        let utc = obj.sub(offset)?;
        let utc = utc.cast::<PyDateTime>()?;
        return utc_datetime_term(env, utc).map(Some);
    }
    if let Ok(d) = obj.cast::<PyDate>() {
        let (k, v) = date_fields(env, d.get_year(), d.get_month(), d.get_day());
        return struct_term(env, date(), &k, &v).map(Some);
    }
    if let Ok(t) = obj.cast::<PyTime>() {
        // An Elixir Time has no offset: an aware time stays a Ref.
        if t.get_tzinfo().is_some() {
            return Ok(None);
        }
        let (k, v) = time_fields(
            env,
            t.get_hour(),
            t.get_minute(),
            t.get_second(),
            t.get_microsecond(),
        );
        return struct_term(env, time(), &k, &v).map(Some);
    }
    if let Ok(td) = obj.cast::<PyDelta>() {
        // Whole microseconds (an Elixir integer; 1.14 has no Duration).
        let us = i128::from(td.get_days()) * 86_400_000_000
            + i128::from(td.get_seconds()) * 1_000_000
            + i128::from(td.get_microseconds());
        return Ok(Some(match i64::try_from(us) {
            Ok(small) => small.encode(env),
            Err(_) => BigInt::from(us).encode(env),
        }));
    }
    Ok(None)
}

/// The term of a `decimal.Decimal`, `uuid.UUID` or numpy scalar, told by the type's
/// module and name (read anyway for a Ref), or `None`.
pub fn by_type_name<'a>(
    conv: &ToTerm<'a>,
    obj: &Bound<'_, PyAny>,
    module: &str,
    name: &str,
) -> PyResult<Option<Term<'a>>> {
    let env = conv.env;
    match (module, name) {
        ("decimal", "Decimal") => {
            let text = obj.str()?;
            let k = [__struct__().as_c_arg(), value().as_c_arg()];
            let v = [
                sb_decimal().as_c_arg(),
                conv.term(text.as_any())?.as_c_arg(),
            ];
            Ok(Some(map_term(env, &k, &v)?))
        }
        ("uuid", "UUID") => Ok(Some(conv.term(obj.str()?.as_any())?)),
        ("numpy", "datetime64" | "timedelta64") => {
            crate::science::by_type_name(env, obj, module, name)
        }
        ("numpy", _) => numpy_scalar(conv, obj),
        _ => crate::science::by_type_name(env, obj, module, name),
    }
}

/// A numpy integer, floating, complex or bool scalar as its Python value (`.item()`).
/// numpy is never imported here: a type that says it is numpy's while numpy is not loaded
/// is not numpy's.
fn numpy_scalar<'a>(conv: &ToTerm<'a>, obj: &Bound<'_, PyAny>) -> PyResult<Option<Term<'a>>> {
    static SCALARS: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
    let py = obj.py();
    let scalars = match SCALARS.get(py) {
        Some(s) => s.bind(py),
        None => {
            let modules = py.import("sys")?.getattr("modules")?;
            let Some(numpy) = modules.cast::<PyDict>()?.get_item("numpy")? else {
                return Ok(None);
            };
            let types = PyTuple::new(
                py,
                [
                    numpy.getattr("integer")?,
                    numpy.getattr("floating")?,
                    numpy.getattr("complexfloating")?,
                    numpy.getattr("bool_")?,
                ],
            )?;
            SCALARS.get_or_init(py, || types.unbind()).bind(py)
        }
    };
    if !obj.is_instance(scalars)? {
        return Ok(None);
    }
    let item = obj.call_method0("item")?;
    Ok(Some(conv.term(&item)?))
}

/// The fields a NaiveDateTime and a DateTime share (date and time of day), without
/// `__struct__`: keys and values.
fn date_time_fields(env: Env<'_>, dt: &Bound<'_, PyDateTime>) -> Fields {
    let (mut k, mut v) = date_fields(env, dt.get_year(), dt.get_month(), dt.get_day());
    let (tk, tv) = time_fields(
        env,
        dt.get_hour(),
        dt.get_minute(),
        dt.get_second(),
        dt.get_microsecond(),
    );
    k.extend_from_slice(&tk[1..]);
    v.extend_from_slice(&tv[1..]);
    (k, v)
}

fn naive_datetime_term<'a>(env: Env<'a>, dt: &Bound<'_, PyDateTime>) -> PyResult<Term<'a>> {
    let (k, v) = date_time_fields(env, dt);
    struct_term(env, naive_date_time(), &k, &v)
}

/// A `NaiveDateTime` from its parts, `(year, month, day)` and `(hour, minute, second,
/// microsecond)`, with a `datetime`'s precision rule (`time_fields`).
pub fn naive_date_time_term(
    env: Env<'_>,
    (y, mo, d): (i32, u8, u8),
    (h, mi, s, us): (u8, u8, u8, u32),
) -> PyResult<Term<'_>> {
    let (mut k, mut v) = date_fields(env, y, mo, d);
    let (tk, tv) = time_fields(env, h, mi, s, us);
    k.extend_from_slice(&tk[1..]);
    v.extend_from_slice(&tv[1..]);
    struct_term(env, naive_date_time(), &k, &v)
}

fn utc_datetime_term<'a>(env: Env<'a>, dt: &Bound<'_, PyDateTime>) -> PyResult<Term<'a>> {
    let (mut k, mut v) = date_time_fields(env, dt);
    let zero = 0i64.encode(env).as_c_arg();
    k.extend([
        utc_offset().as_c_arg(),
        std_offset().as_c_arg(),
        time_zone().as_c_arg(),
        zone_abbr().as_c_arg(),
    ]);
    v.extend([
        zero,
        zero,
        "Etc/UTC".encode(env).as_c_arg(),
        "UTC".encode(env).as_c_arg(),
    ]);
    struct_term(env, date_time(), &k, &v)
}

type Fields = (Vec<rustler::sys::ErlNifTerm>, Vec<rustler::sys::ErlNifTerm>);

/// `calendar`, `year`, `month`, `day`.
fn date_fields(env: Env<'_>, y: i32, m: u8, d: u8) -> Fields {
    (
        vec![
            calendar().as_c_arg(),
            year().as_c_arg(),
            month().as_c_arg(),
            day().as_c_arg(),
        ],
        vec![
            calendar_iso().as_c_arg(),
            y.encode(env).as_c_arg(),
            m.encode(env).as_c_arg(),
            d.encode(env).as_c_arg(),
        ],
    )
}

/// `calendar`, `hour`, `minute`, `second`, `microsecond`: `{0, 0}` when it is 0 (so
/// `~T[12:00:00]` comes back equal), else `{us, 6}`.
fn time_fields(env: Env<'_>, h: u8, m: u8, s: u8, us: u32) -> Fields {
    let precision = if us == 0 { 0u32 } else { 6 };
    (
        vec![
            calendar().as_c_arg(),
            hour().as_c_arg(),
            minute().as_c_arg(),
            second().as_c_arg(),
            microsecond().as_c_arg(),
        ],
        vec![
            calendar_iso().as_c_arg(),
            h.encode(env).as_c_arg(),
            m.encode(env).as_c_arg(),
            s.encode(env).as_c_arg(),
            (us, precision).encode(env).as_c_arg(),
        ],
    )
}

fn struct_term<'a>(
    env: Env<'a>,
    name: Atom,
    keys: &[rustler::sys::ErlNifTerm],
    values: &[rustler::sys::ErlNifTerm],
) -> PyResult<Term<'a>> {
    let mut k = Vec::with_capacity(keys.len() + 1);
    let mut v = Vec::with_capacity(keys.len() + 1);
    k.push(__struct__().as_c_arg());
    v.push(name.as_c_arg());
    k.extend_from_slice(keys);
    v.extend_from_slice(values);
    map_term(env, &k, &v)
}

/// A small map (distinct atom keys, at most a dozen: built from arrays on any thread).
fn map_term<'a>(
    env: Env<'a>,
    keys: &[rustler::sys::ErlNifTerm],
    values: &[rustler::sys::ErlNifTerm],
) -> PyResult<Term<'a>> {
    // SAFETY: equal lengths; every term was made in `env` (atoms belong to every env).
    let map = unsafe { enif::map(env, keys, values) };
    // Distinct keys, a dozen at most: enif::map fails only when the BEAM cannot allocate.
    let map =
        map.ok_or_else(|| pyo3::exceptions::PyMemoryError::new_err("could not build a struct"))?;
    // SAFETY: made in `env` just above.
    Ok(unsafe { Term::new(env, map) })
}
