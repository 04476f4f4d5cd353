"""Python code the ExUnit suite calls (generators, counters, objects with lifetimes)."""

import asyncio
import itertools
import time
import weakref

from sb_counters import counters

# Python-side counters the tests read: live objects, produced items, finally blocks run.
state, reset, get = counters("produced", "finally", "live")


class Tracked:
    """An object that counts its live instances (to see a Ref being released)."""

    def __init__(self, value=None):
        self.value = value
        state["live"] += 1

    def __del__(self):
        state["live"] -= 1

    def __repr__(self):
        return f"Tracked({self.value!r})"

    def double(self, factor=2):
        return self.value * factor


def make_tracked(n):
    return [Tracked(i) for i in range(n)]


def counting_gen(n=None):
    """Counts every item it produces, and records that its finally ran."""
    try:
        for i in itertools.count() if n is None else range(n):
            state["produced"] += 1
            yield i
    finally:
        state["finally"] += 1


def gen_with_error(n):
    for i in range(n):
        yield i
    raise ValueError(f"boom after {n}")


def status_with_gen():
    return {"status": "ok", "data": (x * 2 for x in range(10))}


async def agen(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def make_agen(n):
    return agen(n)


class LenIterator:
    def __init__(self, n):
        self.i = 0
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= self.n:
            raise StopIteration
        self.i += 1
        return self.i

    def __len__(self):
        return self.n - self.i


def busy(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        n += 1
    return n


def busy_forever():
    try:
        while True:
            state["produced"] += 1
    finally:
        state["finally"] += 1


# ---- Added for the lazy-streams tests (stream_ref_test & co). Separate counters so the
# ---- functions above keep their behaviour.

extra, reset_extra, get_extra = counters("next_calls", "afinally", "aproduced")


class CountingIterator:
    """An iterator over range(n) that counts every __next__ call (also the final one)."""

    def __init__(self, n):
        self.i = 0
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        extra["next_calls"] += 1
        if self.i >= self.n:
            raise StopIteration
        self.i += 1
        return self.i - 1


def make_map_iter(items):
    return map(str, items)


def make_filter_iter(items):
    return filter(None, items)


def nested_streams():
    return {
        "list": [iter([1, 2]), 3],
        "tuple": ((x for x in range(3)), "x"),
        "dict": {"inner": iter(["a"])},
        "plain": [1, (2, 3), {"k": "v"}],
    }


def slow_gen(n, delay):
    for i in range(n):
        time.sleep(delay)
        yield i


def iter_with_error_at(n, at):
    """A plain iterator (not a generator) that raises ValueError on item `at`."""

    class _It:
        def __init__(self):
            self.i = 0

        def __iter__(self):
            return self

        def __next__(self):
            if self.i >= n:
                raise StopIteration
            if self.i == at:
                self.i += 1
                raise ValueError(f"bad item {at}")
            self.i += 1
            return self.i - 1

    return _It()


async def counting_agen(n=None):
    """An async generator that counts its items and records that its finally ran."""
    try:
        for i in itertools.count() if n is None else range(n):
            await asyncio.sleep(0)
            extra["aproduced"] += 1
            yield i
    finally:
        extra["afinally"] += 1


# Counters per tag, so a generator of an earlier test that the BEAM collects late cannot
# change the counts a later test reads.
tags = {}


def tagged_gen(tag, n=None):
    """Like counting_gen, with counters of its own under `tag`."""
    c = tags.setdefault(tag, {"produced": 0, "finally": 0})
    try:
        for i in itertools.count() if n is None else range(n):
            c["produced"] += 1
            yield i
    finally:
        c["finally"] += 1


def tag_get(tag, key):
    return tags.get(tag, {}).get(key, 0)


def spin_gen(tag):
    """Yields 0, then spins in Python without yielding (to be stopped by a timeout)."""
    c = tags.setdefault(tag, {"produced": 0, "finally": 0})
    try:
        c["produced"] += 1
        yield 0
        while True:
            pass
    finally:
        c["finally"] += 1
