"""Producers for the callback-streaming tests, with counters the tests read."""

import time

state = {"produced": 0, "finally": 0, "interrupted": 0}


def reset():
    for k in state:
        state[k] = 0
    return True


def get(key):
    return state[key]


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
