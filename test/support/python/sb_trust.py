"""Python helpers of trust_test: large items, stops around Elixir callbacks."""

import time


def items(values):
    """A generator of the given values (stream/5 iterates it item by item)."""
    for v in values:
        yield v


def call_then_report(fun, pid, tag):
    """Calls an Elixir function; tells `pid` how Python's side ended."""
    try:
        return fun()
    except BaseException as e:
        pid.send(("raised", tag, type(e).__name__))
        raise
    finally:
        pid.send(("finally", tag))


def call_catching_timeout(fun):
    """Calls an Elixir function; a TimeoutError (callback_timeout) is the answer."""
    t0 = time.monotonic()
    try:
        fun()
        return ["returned", time.monotonic() - t0]
    except TimeoutError:
        return ["timeout", time.monotonic() - t0]


def apply(fun, *args):
    return fun(*args)
