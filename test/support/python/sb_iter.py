"""Helpers for test/iter_test.exs: Python code that reads Elixir enumerables."""
import asyncio
import itertools
import threading

import snakebridge

kept = []
finished = threading.Event()


def take(it, n):
    return list(itertools.islice(it, n))


def until(it, stop):
    """Stops early with `break`."""
    out = []
    for x in it:
        if x == stop:
            break
        out.append(x)
    return out


def fail_at(it, stop):
    """Stops early with an exception."""
    for x in it:
        if x == stop:
            raise ValueError("stopped at %r" % (x,))
    return None


def keep(it):
    """Keeps the iterator past the end of the call."""
    kept.append(it)
    return next(it)


def next_kept():
    return next(kept.pop())


def catch_elixir_error(it):
    out = []
    try:
        for x in it:
            out.append(x)
    except snakebridge.ElixirError as e:
        return [out, type(e).__name__, str(e)]
    return [out, None, None]


def catch_timeout(it):
    try:
        next(it)
    except TimeoutError as e:
        return str(e)
    return None


def sum_then_flag(it):
    finished.clear()
    try:
        return sum(it)
    finally:
        finished.set()


def is_finished():
    return finished.is_set()


def async_sum(it):
    async def main():
        total = 0
        async for x in it:
            total += x
            await asyncio.sleep(0)
        return total

    return asyncio.run(main())


def doubled(it):
    """A generator for stream/5 that reads an Elixir stream."""
    for x in it:
        yield x * 2


def read_sizes(f, n):
    """f.read(n) until the end: the sizes read, and all the bytes."""
    sizes, parts = [], []
    while True:
        b = f.read(n)
        if not b:
            return [sizes, b"".join(parts)]
        sizes.append(len(b))
        parts.append(b)


def readinto_all(f, n):
    buf = bytearray(n)
    parts = []
    while True:
        k = f.readinto(buf)
        if k == 0:
            return b"".join(parts)
        parts.append(bytes(buf[:k]))


def from_thread(it):
    """The iterator used by a thread Python started (no caller: its requests go to the sink)."""
    out = []
    t = threading.Thread(target=lambda: out.extend(it))
    t.start()
    t.join()
    return out


async def async_total(it):
    """A coroutine: SnakeBridge awaits it on the library's event loop."""
    total = 0
    async for x in it:
        total += x
    return total
