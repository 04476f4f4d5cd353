//! The values data libraries add (the README's Values table): pandas' missing values
//! (`NaT`, `NA`) as `nil`, numpy `datetime64` / `timedelta64` scalars as
//! `NaiveDateTime` / microseconds, and complex numbers as `%SnakeBridge.Complex{}` both
//! ways. Called from `values` only for objects and structs no common path knows.

use pyo3::prelude::*;
use pyo3::types::{PyComplex, PyDict};
use rustler::types::atom::Atom;
use rustler::{BigInt, Encoder, Env, Term};

use crate::atoms::{__struct__, im, infinity, nan, neg_infinity, nil, re, sb_complex};

// ---------------------------------------------------------------- Python -> Elixir

/// Whether a `datetime` subclass instance is pandas' `NaT` (told by its type, so
/// `datetime` itself pays one exact-type check).
pub fn is_nat(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: attached (the Bound proves it); the check only reads the object's type.
    if unsafe { pyo3::ffi::PyDateTime_CheckExact(obj.as_ptr()) } != 0 {
        return false;
    }
    let ty = obj.get_type();
    ty.name().is_ok_and(|n| n == "NaTType")
        && ty
            .module()
            .is_ok_and(|m| m.to_str().is_ok_and(|m| m.starts_with("pandas")))
}

/// The term of an object told by its type's module and name: pandas' `NA` (`nil`), a
/// Python `complex`, a numpy `datetime64` or `timedelta64`; `None` for any other.
pub fn by_type_name<'a>(
    env: Env<'a>,
    obj: &Bound<'_, PyAny>,
    module: &str,
    name: &str,
) -> PyResult<Option<Term<'a>>> {
    match (module, name) {
        ("builtins", "complex") => {
            let c = obj.cast::<PyComplex>()?;
            complex_term(env, c.real(), c.imag()).map(Some)
        }
        ("numpy", "datetime64") => numpy_time(env, obj, true),
        ("numpy", "timedelta64") => numpy_time(env, obj, false),
        (m, "NAType") if m.starts_with("pandas") => Ok(Some(nil().encode(env))),
        _ => Ok(None),
    }
}

/// `%SnakeBridge.Complex{re: re, im: im}` (each part a float, or `:infinity`,
/// `:neg_infinity`, `:nan` as floats are).
pub fn complex_term(env: Env<'_>, re_part: f64, im_part: f64) -> PyResult<Term<'_>> {
    let keys = [__struct__().as_c_arg(), re().as_c_arg(), im().as_c_arg()];
    let values = [
        sb_complex().as_c_arg(),
        crate::convert::float_term(env, re_part).as_c_arg(),
        crate::convert::float_term(env, im_part).as_c_arg(),
    ];
    // SAFETY: equal lengths; every term was made in `env` (atoms belong to every env).
    let map = unsafe { crate::enif::map(env, &keys, &values) }
        .ok_or_else(|| pyo3::exceptions::PyMemoryError::new_err("could not build a struct"))?;
    // SAFETY: made in `env` just above.
    Ok(unsafe { Term::new(env, map) })
}

/// numpy's NaT, as an int64.
const NAT: i64 = i64::MIN;
const US_PER_DAY: i128 = 86_400_000_000;

/// A numpy `datetime64` (`NaiveDateTime`) or `timedelta64` (microseconds): `nil` for
/// NaT; `None` (a Ref) for what has no such value (a calendar-unit timedelta, a date
/// beyond years -9999..9999, a value without a unit).
///
/// Units finer than the microsecond are floored to it; a NaiveDateTime's precision is
/// a `datetime`'s (0 when the microseconds are 0, else 6), whatever the unit.
fn numpy_time<'a>(
    env: Env<'a>,
    obj: &Bound<'_, PyAny>,
    is_datetime: bool,
) -> PyResult<Option<Term<'a>>> {
    let py = obj.py();
    let modules = py.import("sys")?.getattr("modules")?;
    let Some(numpy) = modules.cast::<PyDict>()?.get_item("numpy")? else {
        return Ok(None);
    };
    let as_int = |o: &Bound<'_, PyAny>| -> PyResult<i64> {
        o.call_method1("astype", ("int64",))?
            .call_method0("item")?
            .extract()
    };
    let mut value = obj.clone();
    if as_int(&value)? == NAT {
        return Ok(Some(nil().encode(env)));
    }
    let (mut unit, mut count): (String, i64) = numpy
        .call_method1("datetime_data", (value.getattr("dtype")?,))?
        .extract()?;
    if matches!(unit.as_str(), "Y" | "M") {
        // Years and months have no fixed length: a date is its day, a duration has none.
        if !is_datetime {
            return Ok(None);
        }
        value = value.call_method1("astype", ("datetime64[D]",))?;
        (unit, count) = ("D".to_owned(), 1);
    }
    let Some((mul, div)) = unit_us(&unit) else {
        return Ok(None);
    };
    let ticks = i128::from(as_int(&value)?) * i128::from(count);
    let us = (ticks * mul).div_euclid(div);
    if !is_datetime {
        return Ok(Some(match i64::try_from(us) {
            Ok(small) => small.encode(env),
            Err(_) => BigInt::from(us).encode(env),
        }));
    }
    let days = us.div_euclid(US_PER_DAY);
    let of_day = us.rem_euclid(US_PER_DAY) as i64;
    let Ok(days) = i64::try_from(days) else {
        return Ok(None);
    };
    let (y, m, d) = civil_from_days(days);
    if !(-9999..=9999).contains(&y) {
        return Ok(None);
    }
    let secs = of_day / 1_000_000;
    let t = crate::values::naive_date_time_term(
        env,
        (y as i32, m, d),
        (
            (secs / 3600) as u8,
            (secs / 60 % 60) as u8,
            (secs % 60) as u8,
            (of_day % 1_000_000) as u32,
        ),
    )?;
    Ok(Some(t))
}

/// A unit's microseconds as `(multiplier, divisor)`.
fn unit_us(unit: &str) -> Option<(i128, i128)> {
    Some(match unit {
        "W" => (7 * US_PER_DAY, 1),
        "D" => (US_PER_DAY, 1),
        "h" => (3_600_000_000, 1),
        "m" => (60_000_000, 1),
        "s" => (1_000_000, 1),
        "ms" => (1_000, 1),
        "us" => (1, 1),
        "ns" => (1, 1_000),
        "ps" => (1, 1_000_000),
        "fs" => (1, 1_000_000_000),
        "as" => (1, 1_000_000_000_000),
        _ => return None,
    })
}

/// Year, month, day of a day count from 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------- Elixir -> Python

/// A Python `complex` from `%SnakeBridge.Complex{}` (or the `complex` package's
/// `%Complex{}`, Nx's): `None` when a part is no number.
pub fn complex_to_py<'py>(py: Python<'py>, term: Term<'_>) -> Option<PyResult<Bound<'py, PyAny>>> {
    let env = term.get_env();
    let part = |key: Atom| -> Option<f64> {
        let t = term.map_get(key.encode(env)).ok()?;
        if let Ok(f) = t.decode::<f64>() {
            return Some(f);
        }
        if let Ok(i) = t.decode::<i64>() {
            return Some(i as f64);
        }
        let a: Atom = t.decode().ok()?;
        if a == infinity() {
            Some(f64::INFINITY)
        } else if a == neg_infinity() {
            Some(f64::NEG_INFINITY)
        } else if a == nan() {
            Some(f64::NAN)
        } else {
            None
        }
    };
    let (r, i) = (part(re())?, part(im())?);
    Some(Ok(PyComplex::from_doubles(py, r, i).into_any()))
}
