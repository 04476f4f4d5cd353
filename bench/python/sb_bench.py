"""Python-side helpers of the SnakeBridge benchmarks (bench/*.exs).

Baseline (a) functions time CPython's own loop with time.perf_counter and return
seconds, so the call that starts them is not part of the figure.
"""

import gc
import time

_kept = {}


def gen(n):
    """A generator of n ints."""
    for i in range(n):
        yield i


def consume(it):
    """CPython's own loop over an iterator: the lower limit for iteration."""
    t = time.perf_counter()
    for _ in it:
        pass
    return time.perf_counter() - t


def consume_range(n):
    return consume(iter(range(n)))


def consume_gen(n):
    return consume(gen(n))


def list_gen(n, kind="int"):
    """Seconds CPython's own list() takes to drain a generator of n items of `kind`
    (the baseline of batched iteration: Python's own per-item cost)."""
    it = typed_gen(n, kind)
    t = time.perf_counter()
    list(it)
    return time.perf_counter() - t


class Typed:
    """An iterable (not its own iterator) of n items of `kind`: an Elixir Ref of it is
    enumerated in growing batches."""

    def __init__(self, n, kind="int"):
        self.n, self.kind = n, kind

    def __iter__(self):
        return typed_gen(self.n, self.kind)


def typed_gen(n, kind="int"):
    """A generator of n ints, floats or short strs."""
    if kind == "float":
        return (i * 0.5 for i in range(n))
    if kind == "str":
        return (f"s{i % 1000}" for i in range(n))
    return gen(n)


def build_list(n):
    """Seconds CPython takes to build list(range(n))."""
    t = time.perf_counter()
    list(range(n))
    return time.perf_counter() - t


def build_nested(n):
    """Seconds CPython takes to build make_nested(n)."""
    t = time.perf_counter()
    make_nested(n)
    return time.perf_counter() - t


def make_nested(n):
    """n str keys, each to a list of 10 ints and a 3-key dict (nested containers)."""
    return {f"k{i}": [list(range(10)), {"a": i, "b": 0.5, "c": "x"}] for i in range(n)}


def make_dict(n):
    return {f"k{i}": i for i in range(n)}


def build_dict(n):
    """Seconds CPython takes to build make_dict(n)."""
    t = time.perf_counter()
    make_dict(n)
    return time.perf_counter() - t


def keep_list(n):
    """Builds list(range(n)) once; kept_list() returns it without building it again."""
    _kept["list"] = list(range(n))


def kept_list():
    return _kept["list"]


def keep_dict(n):
    _kept["dict"] = make_dict(n)


def kept_dict():
    return _kept["dict"]


def forget():
    _kept.clear()


def make_streams(n):
    """n fresh streams, half generators (closed on release) and half range iterators."""
    return [gen(3) if i % 2 else iter(range(3)) for i in range(n)]


def live_objects():
    """Objects the cyclic GC tracks, after a full collection."""
    gc.collect()
    return len(gc.get_objects())


def allocated_blocks():
    """Memory blocks Python's allocator holds (every object, gc-tracked or not)."""
    import sys

    gc.collect()
    return sys.getallocatedblocks()


def malloc_trim():
    """Asks glibc to give freed heap memory back to the OS (a diagnostic: RSS that
    drops after it was freed memory kept by malloc, not a leak)."""
    import ctypes

    return ctypes.CDLL(None).malloc_trim(0)


# ------------------------------------------------------------------ execution model

_stopped = {}


def spin_until_stopped(key):
    """A pure-Python loop that only a cancel ends; records when its finally ran."""
    try:
        while True:
            pass
    finally:
        _stopped[key] = time.monotonic()


def stopped_at(key):
    """time.monotonic() of the loop's finally, or None while it still runs."""
    return _stopped.get(key)


def now():
    return time.monotonic()


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def cpu(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def fork_and_wait():
    """os.fork(): the child returns to the library (which ends it); 0 is its exit code."""
    import os

    pid = os.fork()
    if pid == 0:
        return "child"
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


class _Finalized:
    count = 0

    def __del__(self):
        _Finalized.count += 1


def finalized(n):
    """n objects with a __del__ (released when Elixir drops their Refs)."""
    return [_Finalized() for _ in range(n)]


def print_lines(n):
    for i in range(n):
        print("line", i)


def print_lines_devnull(n):
    import os

    with open(os.devnull, "w") as f:
        for i in range(n):
            print("line", i, file=f)


async def async_nap(seconds):
    import asyncio

    await asyncio.sleep(seconds)
    return seconds


def sync_nap(seconds):
    import time

    time.sleep(seconds)
    return seconds


def keep_blobs(count, size):
    """Keeps `count` distinct bytes objects of `size` bytes (the large-values bench)."""
    _kept["blobs"] = [bytes([i % 256]) * size for i in range(count)]


def kept_blobs():
    return iter(_kept["blobs"])


def kept_blob():
    return _kept["blobs"][0]
