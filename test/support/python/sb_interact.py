"""Python helpers of interaction_test: a job at each place where it can be stopped.

Every target reports to the test process with messages, never with state the test must
poll: `(tag, "started")` when it reached its place, `(tag, "completed")` if the code after
the place ran (a stop that did not stop it), `(tag, "finally")` when its `finally` ran.
Nothing is kept per tag once a job ends, so the object count returns to its start."""

import asyncio
import gc
import threading
import time
import types

import snakebridge

_events = {}
_lock = threading.Lock()


def _say(pid, tag, what, *more):
    snakebridge.send(pid, (tag, what) + more)


def _event(tag):
    with _lock:
        return _events.setdefault(tag, threading.Event())


def unblock(tag):
    """Ends the C-level wait of `hold` / `blocked_in_c` for `tag`."""
    _event(tag).set()
    return True


def forget(tag):
    with _lock:
        _events.pop(tag, None)
    return True


def object_count():
    """[all gc-tracked objects, those of this module's jobs]: the generators and
    coroutines of its code still alive, and the events of `_events`. The first moves a
    little with the interpreter's caches; the second is exact."""
    gc.collect()
    objects = gc.get_objects()
    own = len(_events)
    for o in objects:
        if isinstance(o, types.GeneratorType):
            code = o.gi_code
        elif isinstance(o, types.CoroutineType):
            code = o.cr_code
        else:
            continue
        if code.co_filename == __file__:
            own += 1
    return [len(objects), own]


def hold(pid, tag, i):
    """A blocker: occupies its thread inside a C wait until `unblock(tag)`."""
    ev = _event(tag)
    _say(pid, tag, "held", i)
    ev.wait()
    return i


def mark_started(pid, tag):
    """A queued target: if it ever runs, the test hears of it."""
    _say(pid, tag, "started")
    _say(pid, tag, "completed")
    return True


def spin(pid, tag):
    """Running bytecode: a pure-Python loop that never ends on its own."""
    _say(pid, tag, "started")
    try:
        while True:
            pass
    finally:
        _say(pid, tag, "finally")


def blocked_in_c(pid, tag):
    """Blocked in C: a lock acquire (Event.wait) until `unblock(tag)`."""
    ev = _event(tag)
    _say(pid, tag, "started")
    try:
        ev.wait()
        _say(pid, tag, "completed")
        return True
    finally:
        forget(tag)
        _say(pid, tag, "finally")


def call_back(pid, tag, fun):
    """Inside an Elixir callback: `fun` tells the test itself when it runs."""
    try:
        result = fun()
        _say(pid, tag, "completed")
        return result
    finally:
        _say(pid, tag, "finally")


async def awaiting(pid, tag):
    """Awaiting a coroutine: a future nothing ever completes."""
    _say(pid, tag, "started")
    try:
        await asyncio.get_running_loop().create_future()
        _say(pid, tag, "completed")
    finally:
        _say(pid, tag, "finally")


def produce(pid, tag):
    """An endless generator for stream/5; says which item it made."""
    try:
        i = 0
        while True:
            _say(pid, tag, "produced", i)
            yield i
            i += 1
    finally:
        _say(pid, tag, "finally")


def shared_gen(pid, tag):
    """Yields 0, then spins inside the next step (inside stream_next)."""
    try:
        yield 0
        _say(pid, tag, "started")
        while True:
            pass
        yield 1
    finally:
        _say(pid, tag, "finally")


def unrelated(i, n, pause):
    """An unrelated call: a little pure-Python work, then a short wait in C."""
    total = 0
    for k in range(n):
        total += k
    time.sleep(pause)
    return i * 2
