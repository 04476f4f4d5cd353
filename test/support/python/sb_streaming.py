"""Producers for the callback-streaming tests, with counters the tests read."""

import time

from sb_counters import counters

state, reset, get = counters("produced", "finally", "interrupted")


def produce(n=None, delay=0.0):
    """Yields 0, 1, ... (n items, or forever), sleeping `delay` before each."""
    i = 0
    try:
        while n is None or i < n:
            if delay:
                time.sleep(delay)
            state["produced"] += 1
            yield i
            i += 1
    finally:
        state["finally"] += 1


def spin():
    """A generator whose first item never comes: a pure-Python busy loop."""
    try:
        while True:
            state["produced"] += 1
        yield 0
    finally:
        state["finally"] += 1


def swallow_everything():
    """`except Exception` must not stop an interrupt."""
    try:
        while True:
            try:
                state["produced"] += 1
            except Exception:
                pass
        yield 0
    finally:
        state["finally"] += 1


def fail_after(n):
    for i in range(n):
        yield i
    raise RuntimeError(f"failed after {n}")
