"""Helpers for test/conformance_test.exs: every path hands a value back, after `shape`.

`shape(kind, x)` turns the value Elixir sent into a Python-only kind (a UUID, a
timedelta, a namedtuple, ...), so that rows of the Values table whose Python side has
no Elixir counterpart still go through every path. `None` leaves the value alone; a
kind starting with "each:" shapes every item of a list.
"""
import collections
import datetime
import enum
import uuid

import snakebridge

Point = collections.namedtuple("Point", "x y")


class Color(enum.IntEnum):
    RED = 1
    HUGE = 2**70


class Week(datetime.date):
    pass


class Stamp(datetime.datetime):
    pass


class Dict(dict):
    pass


def _one(kind, x):
    if kind is None:
        return x
    if kind == "uuid":
        return uuid.UUID(x)
    if kind == "timedelta":
        return datetime.timedelta(microseconds=x)
    if kind == "bytearray":
        return bytearray(x)
    if kind == "frozenset":
        return frozenset(x)
    if kind == "namedtuple":
        return Point(*x)
    if kind == "intenum":
        return Color(x)
    if kind == "dict_subclass":
        return Dict(x)
    if kind == "ordered_dict":
        return collections.OrderedDict(x)
    if kind == "date_subclass":
        return Week(x.year, x.month, x.day)
    if kind == "datetime_subclass":
        return Stamp(x.year, x.month, x.day, x.hour, x.minute, x.second, x.microsecond)
    if kind == "aware_utc":
        return x.replace(tzinfo=datetime.timezone.utc)
    if kind == "bytes_of_str":
        return x.encode("utf-8")
    raise ValueError("unknown shape %r" % (kind,))


def shape(kind, x):
    if kind is not None and kind.startswith("each:"):
        return [_one(kind[5:], item) for item in x]
    return _one(kind, x)


def identity(x, kind=None):
    return shape(kind, x)


def kw(kind=None, **kwargs):
    return shape(kind, kwargs["x"])


class Box:
    def __init__(self):
        self.value = None
        self.raw = None

    def echo(self, x, kind=None):
        return shape(kind, x)

    def store(self, kind=None):
        self.value = shape(kind, self.raw)


class Holder:
    """An iterable that is not a collection: a Ref, enumerated from a fresh iterator."""

    def __init__(self, x, kind, n):
        self.x = shape(kind, x)
        self.n = n

    def __iter__(self):
        for _ in range(self.n):
            yield self.x


def gen(x, kind, n):
    y = shape(kind, x)
    for _ in range(n):
        yield y


async def agen(x, kind, n):
    y = shape(kind, x)
    for _ in range(n):
        yield y


async def coro(x, kind):
    return shape(kind, x)


def pid_send(pid, tag, x, kind):
    pid.send((tag, shape(kind, x)))


def module_send(pid, tag, x, kind):
    snakebridge.send(pid, (tag, shape(kind, x)))


def call_fun(fun, x, kind):
    fun(shape(kind, x))


def fun_result(fun, kind):
    return shape(kind, fun())


def ids(x):
    """Python identities: how Refs are compared (a list: each item's)."""
    if isinstance(x, list):
        return [id(item) for item in x]
    return id(x)
