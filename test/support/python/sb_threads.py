"""Python helpers of the execution-model tests: which thread runs what, frames,
signals, code to stop. Counters are keyed by a tag each test picks for itself."""

import gc
import inspect
import signal
import sys
import threading
import time

tags = {}
# A read-modify-write of a dict item is not atomic across threads (a switch can come
# after the get): counters are bumped under a lock.
_lock = threading.Lock()


def mark(tag, key):
    with _lock:
        c = tags.setdefault(tag, {})
        c[key] = c.get(key, 0) + 1


def tag_get(tag, key):
    return tags.get(tag, {}).get(key, 0)


def ident():
    return threading.get_ident()


def on_main_thread():
    return threading.current_thread() is threading.main_thread()


def install_sigterm_handler():
    """What signal.signal does here: "installed", or the exception's type name."""
    try:
        signal.signal(signal.SIGTERM, lambda *_: None)
        return "installed"
    except Exception as e:
        return type(e).__name__


class ThreadBound:
    """Like a sqlite3 connection: usable only on the thread that made it."""

    def __init__(self, tag):
        self.tag = tag
        self.owner = threading.get_ident()
        self.value = 0

    def _check(self):
        if threading.get_ident() != self.owner:
            raise RuntimeError("object created in a thread can only be used in that same thread")

    def bump(self):
        self._check()
        self.value += 1
        return self.value

    @property
    def owner_ident(self):
        self._check()
        return self.owner

    def idents(self, n):
        self._check()
        for _ in range(n):
            yield threading.get_ident()

    def __del__(self):
        mark(self.tag, "del_same_thread" if threading.get_ident() == self.owner else "del_other")


def gen_with_finally(tag, n=None):
    mark(tag, "started")
    try:
        i = 0
        while n is None or i < n:
            yield i
            i += 1
    finally:
        mark(tag, "finally")


def spin(tag):
    """A pure-Python loop that never ends on its own."""
    mark(tag, "started")
    try:
        while True:
            pass
    finally:
        mark(tag, "finally")


def spin_gen(tag):
    """Yields nothing: spins in Python inside the generator until stopped."""
    mark(tag, "started")
    try:
        while True:
            pass
        yield
    finally:
        mark(tag, "finally")


def cpu(n):
    """Pure-Python CPU work."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def object_count():
    gc.collect()
    return len(gc.get_objects())


def caller_frame():
    """What pydantic and friends do: look at the caller's frame."""
    return sys._getframe(1) is not None


def grandparent_globals():
    """pydantic.TypeAdapter reads the namespace two frames up."""

    def helper():
        return sys._getframe(2).f_globals is not None

    return helper()


def stack_depth():
    return len(inspect.stack())


def fail_deep():
    def inner():
        raise ValueError("deep failure")

    inner()


def swallowing_loop(tag, seconds):
    """A loop whose body swallows everything (`except BaseException`): one interrupt is
    not enough to stop it, repeated ones are."""
    mark(tag, "started")
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            try:
                sum(range(500))
            except BaseException:
                mark(tag, "swallowed")
            sum(range(500))
        return "finished"
    finally:
        tags[tag]["ran_for"] = time.monotonic() - (end - seconds)


_release = {}


class BlockingFinalizer:
    """A __del__ that blocks until `unblock(tag)` (a finalizer waiting on a lock)."""

    def __init__(self, tag):
        import threading as _t

        self.tag = tag
        _release.setdefault(tag, _t.Event())

    def __del__(self):
        mark(self.tag, "blocking_del_started")
        _release[self.tag].wait(60)
        mark(self.tag, "blocking_del_done")


def unblock(tag):
    _release.setdefault(tag, threading.Event()).set()
    return True


class Counted:
    def __init__(self, tag):
        self.tag = tag
        mark(tag, "made")

    def __del__(self):
        mark(self.tag, "freed")


def make_counted(tag, n):
    return [Counted(tag) for _ in range(n)]


async def slow_agen(tag, delay):
    """An async generator whose steps await `delay` seconds; records its finally."""
    import asyncio

    mark(tag, "started")
    try:
        i = 0
        while True:
            await asyncio.sleep(delay)
            mark(tag, "produced")
            yield i
            i += 1
    finally:
        mark(tag, "finally")


def make_slow_agen(tag, delay):
    return slow_agen(tag, delay)


def big_items(tag, size, n=None):
    """Yields `size`-byte bytes objects, item i made of the byte i % 256 (n of them, or
    forever); counts them."""
    mark(tag, "started")
    i = 0
    while n is None or i < n:
        mark(tag, "produced")
        yield bytes([i % 256]) * size
        i += 1


def then_unconvertible(n):
    """Yields n ints, then a value nested too deep to convert."""
    yield from range(n)
    v = []
    for _ in range(5000):
        v = [v]
    yield v


class SlowRepr:
    def __repr__(self):
        # Short sleeps: the stop at inspect's deadline frees the thread at once.
        for _ in range(500):
            time.sleep(0.01)
        return "SlowRepr()"
