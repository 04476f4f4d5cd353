"""`async for` over an ElixirIterator (iter_in.rs): a batch not here yet is waited for
in the event loop's executor, so the loop runs other tasks meanwhile."""
import asyncio

_END = object()


def _step(it):
    try:
        return next(it)
    except StopIteration:
        return _END


async def anext(it):
    if it._ready():
        x = _step(it)
    else:
        x = await asyncio.get_running_loop().run_in_executor(None, _step, it)
    if x is _END:
        raise StopAsyncIteration
    return x
