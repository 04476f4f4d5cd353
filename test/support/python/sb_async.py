"""Python helpers of awaitable_test: coroutines awaited on the library's loop."""

import asyncio

state = {}


async def add(a, b):
    await asyncio.sleep(0)
    return a + b


async def nap(seconds):
    await asyncio.sleep(seconds)
    return seconds


async def fails():
    await asyncio.sleep(0)
    raise ValueError("async boom")


async def guarded(tag, seconds):
    """Records whether it was cancelled and that its finally ran."""
    state[tag] = "started"
    try:
        await asyncio.sleep(seconds)
        state[tag] = "completed"
    except asyncio.CancelledError:
        state[tag] = "cancelled"
        raise
    finally:
        state[tag + ":finally"] = True


def get(key):
    return state.get(key)


async def collect_async(async_gen):
    return [item async for item in async_gen]


async def agen(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i * 2


async def returns_object():
    return object()


class Awaitable:
    def __await__(self):
        yield from asyncio.sleep(0).__await__()
        return "custom"


def make_awaitable():
    return Awaitable()
