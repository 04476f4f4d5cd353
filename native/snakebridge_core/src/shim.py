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
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
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
    closer = getattr(it, "close", None)
    if closer is not None:
        closer()


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
