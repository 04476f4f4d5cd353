"""Helpers for test/values_test.exs (dates, Decimal, UUID, numpy scalars, bytes)."""
import datetime
import decimal
import sys
import uuid


def describe(x):
    """What Python received: the type's module and name, and the repr."""
    t = type(x)
    return (t.__module__ + "." + t.__qualname__, repr(x))


def aware(minutes):
    """2024-03-10 12:30:15.000250 at a UTC offset of `minutes`."""
    tz = datetime.timezone(datetime.timedelta(minutes=minutes))
    return datetime.datetime(2024, 3, 10, 12, 30, 15, 250, tzinfo=tz)


def utc_offset_seconds(dt):
    off = dt.utcoffset()
    return None if off is None else int(off.total_seconds())


def same_instant(dt, iso):
    return dt == datetime.datetime.fromisoformat(iso)


class NotNumpy:
    """An object whose type says it is numpy's (numpy is not loaded in that test)."""


NotNumpy.__module__ = "numpy"
NotNumpy.__qualname__ = "int64"


def not_numpy():
    return NotNumpy()


def numpy_loaded():
    return "numpy" in sys.modules


class Week(datetime.date):
    """A date subclass (pandas' Timestamp is a datetime subclass)."""


def week(y, m, d):
    return Week(y, m, d)


def decimal_equal(d, text):
    """Same value, digits and exponent: Decimal's own comparison of representations."""
    return d.compare_total(decimal.Decimal(text)) == 0 and str(d) == text


def uuid_of(text):
    return uuid.UUID(text)


def aware_time(hour, minute):
    """A value that stays a Ref (Elixir's Time has no offset)."""
    return datetime.time(hour, minute, tzinfo=datetime.timezone.utc)


class Stamp(datetime.datetime):
    """A datetime subclass, as pandas' Timestamp is."""


def stamp_utc(*fields):
    return Stamp(*fields, tzinfo=datetime.timezone.utc)


def days(n):
    """A generator of n dates from 2024-01-30, and a Decimal and a UUID at the end."""
    start = datetime.date(2024, 1, 30)
    for i in range(n):
        yield start + datetime.timedelta(days=i)
    yield decimal.Decimal("0.5")
    yield uuid.UUID(int=1)
