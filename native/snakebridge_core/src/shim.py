"""Python-side helpers of SnakeBridge (module `_snakebridge`), loaded once at start-up."""

import sys
import traceback


class SnakeBridgeInterrupt(BaseException):
    """Raised asynchronously in a thread to stop its Python code (timeout, cancel).

    A BaseException, so that `except Exception:` in user code cannot swallow the stop.
    """


def type_name(t):
    module = getattr(t, "__module__", "builtins")
    qual = getattr(t, "__qualname__", t.__name__)
    return qual if module == "builtins" else f"{module}.{qual}"


def describe_exception(e, tb=None):
    tb = tb or e.__traceback__
    # The library's own frame (enter) is not the user's business.
    tb = _skip_library_frames(tb)
    text = "".join(traceback.format_exception(type(e), e, tb))
    return type_name(type(e)), str(e), text


def add_paths(paths):
    import site

    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    for p in paths:
        site.addsitedir(p)


def new_loop():
    # asyncio is slow to import: only streams over async generators pay for it.
    import asyncio

    return asyncio.new_event_loop()


def anext(loop, agen):
    """One step of an async generator: (True, item), or (False, None) at the end.

    A step stopped from outside (timeout, cancel, halt) is cancelled and run to its end,
    so the generator is not left "already running" and can still be closed."""
    import asyncio

    step = asyncio.ensure_future(agen.__anext__(), loop=loop)
    try:
        return True, loop.run_until_complete(step)
    except StopAsyncIteration:
        return False, None
    except BaseException:
        _finish(loop, step)
        raise


def _finish(loop, step):
    if not step.done():
        step.cancel()
        try:
            loop.run_until_complete(step)
        except BaseException:
            pass


def aclose(loop, agen):
    try:
        loop.run_until_complete(agen.aclose())
    finally:
        loop.close()


def close(it):
    """Closes an iterator Elixir let go of; what its close raises is reported, not raised."""
    closer = getattr(it, "close", None)
    if closer is not None:
        try:
            closer()
        except Exception as e:
            _ignored(f"Exception ignored closing a {type_name(type(it))} object", e)


def importing(tid):
    """Whether thread `tid` is inside an import (a stop then waits for it to end)."""
    frame = sys._current_frames().get(tid)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def safe_multiprocessing():
    """multiprocessing's default start method forks, which would copy the whole BEAM:
    use "spawn" (a fresh `sys.executable`) unless the user chose one already."""
    import multiprocessing

    if multiprocessing.get_start_method(allow_none=True) is None:
        multiprocessing.set_start_method("spawn")
    multiprocessing.set_executable(sys.executable)


def enter(f):
    """The Python frames every library thread runs its work in: callees see a caller
    frame and its caller (`sys._getframe(1)` called straight from Elixir works), as when
    called from Python."""
    return _work(f)


def _work(f):
    return f()


def as_chunks(value):
    """What stream/5 iterates for a non-iterator result: an iterator over a collection
    (list, tuple, range, set...), or None for a value that is one chunk (str, bytes, dict,
    anything not iterable)."""
    if isinstance(value, (str, bytes, bytearray, dict)):
        return None
    try:
        return iter(value)
    except TypeError:
        return None


def drain():
    """Runs a few bytecodes so that an interrupt set for this thread but not raised yet
    is raised here and dropped (consuming it also resets the interpreter's flag)."""
    try:
        n = 0
        for _ in range(2):
            n += 1
    except BaseException:
        pass


# ---- output: sys.stdout / sys.stderr go to the calling Elixir process


class _Output:
    """A text stream whose writes go to the BEAM (see output.rs): `print` in a call shows
    in the caller's group leader. `fileno()` is still the process's descriptor, for code
    that hands it to a child process."""

    encoding = "utf-8"
    errors = "replace"
    newlines = None
    line_buffering = False

    def __init__(self, fd, name, write, flush):
        self._fd = fd
        self.name = name
        self._write = write
        self._flush = flush
        self.buffer = _BinaryOutput(self)

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        self._write(self._fd, s)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        self._flush(self._fd)

    def fileno(self):
        return self._fd

    def isatty(self):
        return False

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False

    @property
    def closed(self):
        return False

    def close(self):
        pass

    def __repr__(self):
        return f"<SnakeBridge output {self.name}>"


class _BinaryOutput:
    """`sys.stdout.buffer`: bytes are decoded as UTF-8 (invalid bytes replaced)."""

    def __init__(self, text):
        self._text = text

    def write(self, b):
        self._text.write(bytes(b).decode("utf-8", "replace"))
        return len(b)

    def flush(self):
        self._text.flush()

    def fileno(self):
        return self._text.fileno()

    def isatty(self):
        return False

    def writable(self):
        return True


def install_output(native):
    sys.stdout = _Output(1, "<stdout>", native._write, native._flush)
    sys.stderr = _Output(2, "<stderr>", native._write, native._flush)
    sys.unraisablehook = _unraisable


# ---- exceptions Python ignores (a `__del__` that raised, an iterator whose close failed
# when the BEAM collected its Ref): one Logger warning each, not a traceback on stderr.

_THREAD_BOUND = (
    " It was made on another thread and can only be used on that one: make such objects "
    "(sqlite3 connections and cursors, ...) in a session with its own thread, "
    "SnakeBridge.Session.start(affinity: :thread), whose objects are closed there."
)


def _unraisable(u):
    try:
        obj = u.object
        if obj is None:
            what = "Python"
        elif callable(obj) and hasattr(obj, "__qualname__"):
            what = obj.__qualname__  # a __del__ method
        else:
            what = f"a {type_name(type(obj))} object"
        exc = u.exc_value if u.exc_value is not None else u.exc_type()
        _ignored(u.err_msg or f"Exception ignored in {what}", exc, u.exc_traceback)
    except BaseException:
        sys.__unraisablehook__(u)


def _ignored(context, exc, tb=None):
    message = f"{context}: {type_name(type(exc))}: {exc}"
    if type(exc).__name__ == "ProgrammingError" and "thread" in str(exc):
        message += _THREAD_BOUND
    frames = traceback.format_tb(_skip_library_frames(tb or exc.__traceback__))
    if frames:
        message += "\n" + "".join(frames).rstrip()
    if not sys.modules["snakebridge"]._log(30, "snakebridge", message):
        sys.stderr.write(message + "\n")


# ---- logging: records to Elixir's Logger (config :snakebridge, python_logging: :logger)


def configure_logging(on, level):
    """Adds (or removes) the handler that hands `logging` records to the BEAM, and sets
    the root logger's level (Logger's, mapped by the Elixir side)."""
    import logging

    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_snakebridge", False):
            root.removeHandler(h)
    if not on:
        return False
    native = sys.modules["snakebridge"]

    class BeamHandler(logging.Handler):
        _snakebridge = True

        def emit(self, record):
            try:
                msg = self.format(record)
            except Exception:
                self.handleError(record)
                return
            native._log(record.levelno, record.name, msg)

    root.addHandler(BeamHandler())
    root.setLevel(level)
    return True


# ---- helpers: SnakeBridge.eval/3, SnakeBridge.reload/2, Ref.setattr/3, the
# frame filter of describe_exception, and what the application's stop runs (atexit
# handlers, child processes). Each is called by one operation of ops.rs (`helper_of`).


def _skip_library_frames(tb):
    """The traceback from the first frame that is the user's: the shim's own frames are
    skipped, and asyncio's `run_until_complete` right after them (the shim stepping an
    async generator)."""
    after_shim = False
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == __file__:
            after_shim = True
        elif not (
            after_shim
            and code.co_name == "run_until_complete"
            and code.co_filename.replace("\\", "/").endswith("asyncio/base_events.py")
        ):
            return tb
        tb = tb.tb_next
    return tb


def setattr_path(obj, path, value):
    """`obj.a.b = value` for the path "a.b"."""
    *parents, last = path.split(".")
    for name in parents:
        obj = getattr(obj, name)
    setattr(obj, last, value)
    return True


_eval_count = [0]
_eval_sources = []


def _eval_filename(code):
    """A name of its own for a snippet, with its source in `linecache`, so tracebacks
    show its lines; the sources of the last 64 snippets are kept."""
    import linecache

    _eval_count[0] += 1
    name = f"<snakebridge.eval:{_eval_count[0]}>"
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    _eval_sources.append(name)
    while len(_eval_sources) > 64:
        linecache.cache.pop(_eval_sources.pop(0), None)
    return name


def eval_code(code, scope):
    """The value of `code` when it is an expression, else the globals it leaves after
    running it as statements (without `__builtins__`). `scope` is a fresh dict: the
    caller's map is never changed."""
    filename = _eval_filename(code)
    try:
        compiled = compile(code, filename, "eval")
    except SyntaxError:
        compiled = None
    if compiled is not None:
        return eval(compiled, scope)
    # Compiled outside the `except`: a SyntaxError here is not chained to the first.
    exec(compile(code, filename, "exec"), scope)
    scope.pop("__builtins__", None)
    return scope


def reload_module(name):
    """Imports the module again from its source (importlib.reload), or for the first
    time. Its cached bytecode is dropped first: an edit made in the same second as the
    last compile, with the same size, would otherwise look unchanged."""
    import importlib
    import os

    importlib.invalidate_caches()
    module = sys.modules.get(name)
    if module is None:
        importlib.import_module(name)
        return True
    cached = getattr(module, "__cached__", None)
    if cached:
        try:
            os.remove(cached)
        except OSError:
            pass
    importlib.reload(module)
    return True


def run_atexit():
    """Runs the handlers registered with `atexit` (last registered first) and forgets
    them, as Python does at exit. An exception in one is printed and the next runs.
    Returns how many there were."""
    import atexit

    count = atexit._ncallbacks()
    atexit._run_exitfuncs()
    return count


def end_children(grace):
    """Ends the child processes Python started that still run: `multiprocessing`
    processes (`active_children()`) and `subprocess.Popen` objects still reachable
    (or kept by `subprocess` after they were dropped). Each gets SIGTERM, then SIGKILL
    after `grace` seconds. Returns their pids."""
    import time

    procs = []
    mp = sys.modules.get("multiprocessing")
    if mp is not None:
        for p in mp.active_children():
            try:
                p.terminate()
                procs.append(p)
            except Exception:
                pass
    popens = []
    sp = sys.modules.get("subprocess")
    if sp is not None:
        import gc

        seen = set()
        found = [o for o in gc.get_objects() if issubclass(type(o), sp.Popen)]
        for p in found + list(getattr(sp, "_active", None) or []):
            if id(p) in seen:
                continue
            seen.add(id(p))
            try:
                if p.poll() is None:
                    p.terminate()
                    popens.append(p)
            except Exception:
                pass
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1.0)
        except Exception:
            pass
    for p in popens:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except sp.TimeoutExpired:
            p.kill()
            try:
                p.wait(1.0)
            except Exception:
                pass
        except Exception:
            pass
    return [p.pid for p in procs] + [p.pid for p in popens]


# ---- awaitables: a call that returns a coroutine is awaited on the library's loop

_loop = None
_loop_lock = None


class AwaitTimeout(Exception):
    """The call's deadline passed: its task was cancelled (its `finally` ran)."""


def _library_loop():
    global _loop, _loop_lock
    import threading

    if _loop_lock is None:
        _loop_lock = threading.Lock()
    with _loop_lock:
        if _loop is None:
            import asyncio

            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="snakebridge-asyncio", daemon=True
            )
            thread.start()
            _loop = loop
    return _loop


async def _await(aw, timeout):
    import asyncio

    if timeout is None:
        return await aw
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=max(timeout, 0))
    if task in done:
        return task.result()
    task.cancel()
    try:
        await task
    except BaseException:
        pass
    raise AwaitTimeout()


def submit_awaitable(aw, done, timeout):
    """Runs `aw` on the library's loop; `done(future)` is called when it is over. The
    returned concurrent future's `cancel()` cancels the task."""
    import asyncio

    future = asyncio.run_coroutine_threadsafe(_await(aw, timeout), _library_loop())
    future.add_done_callback(done)
    return future
