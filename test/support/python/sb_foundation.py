"""Python helpers of the foundation tests (conversion, errors, refs, GC, concurrency,
Python environment). Kept apart from sb_testlib so the two sets of tests never share a
counter: every counter here is keyed by a tag that one test picks for itself."""

import os
import signal
import threading
import time
import zipfile

counters = {}
# `counters[tag] = counters.get(tag, 0) + 1` is not atomic: a thread switch can come after
# the get (CPython checks for one after a call), losing another thread's update.
_lock = threading.Lock()


def count(tag):
    return counters.get(tag, 0)


def _bump(tag):
    with _lock:
        counters[tag] = counters.get(tag, 0) + 1


def bump(tag, *args, **kwargs):
    """Counts its calls under `tag` (to prove that Python was not called)."""
    _bump(tag)
    return len(args) + len(kwargs)


def identity(x):
    return x


def type_name(x):
    return type(x).__name__


def key_type_names(d):
    """Sorted type names of a dict's keys."""
    return sorted(type(k).__name__ for k in d)


def member_type_names(s):
    return sorted(type(m).__name__ for m in s)


def args_and_kwargs(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


def describe(x):
    """A Python-side description of a value: its type and repr."""
    return (type(x).__name__, repr(x))


class SbCustomError(Exception):
    pass


def fail_with(kind, message):
    if kind == "value":
        raise ValueError(message)
    if kind == "custom":
        raise SbCustomError(message)
    if kind == "key":
        return {}[message]
    raise RuntimeError(message)


def nested_failure(message):
    def inner_helper_frame():
        raise ValueError(message)

    return inner_helper_frame()


def spin(tag):
    """A pure-Python loop that never ends on its own; records its `finally`."""
    n = 0
    try:
        while True:
            n += 1
    finally:
        _bump(tag + ":finally")


def swallow_attempt(tag):
    """Tries to swallow whatever stops it with `except Exception`."""
    try:
        n = 0
        while True:
            n += 1
    except Exception:
        _bump(tag + ":swallowed")
        return "swallowed"
    finally:
        _bump(tag + ":finally")


def spin_for(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


class Probe:
    """An object that counts its live instances under a tag."""

    def __init__(self, tag, value=None):
        self.tag = tag
        self.value = value
        with _lock:
            counters[tag] = counters.get(tag, 0) + 1

    def __del__(self):
        with _lock:
            counters[self.tag] -= 1

    def __repr__(self):
        return f"Probe({self.tag!r}, {self.value!r})"


def make_probes(tag, n):
    return [Probe(tag, i) for i in range(n)]


def marker_gen(path):
    """A generator whose `finally` writes `path`: observable without calling Python."""
    try:
        i = 0
        while True:
            yield i
            i += 1
    finally:
        # Written aside and renamed: a reader never sees the file before its content.
        with open(path + ".tmp", "w") as f:
            f.write("closed")
        os.replace(path + ".tmp", path)


class OnlyIterable:
    """Iterable (a fresh iterator each time) with no __len__."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def sigint_handler_kind():
    h = signal.getsignal(signal.SIGINT)
    if h is signal.default_int_handler:
        return "default_int_handler"
    if h == signal.SIG_DFL:
        return "SIG_DFL"
    if h == signal.SIG_IGN:
        return "SIG_IGN"
    if h is None:
        return "not_from_python"
    return repr(h)


def write_wheel(out_dir, name, version, module_source):
    """A minimal pure-Python wheel with one package `name` (pip installs it offline)."""
    dist_info = f"{name}-{version}.dist-info"
    path = os.path.join(out_dir, f"{name}-{version}-py3-none-any.whl")
    files = {
        f"{name}/__init__.py": module_source,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: sb_foundation\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{p},,\n" for p in files) + f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for p, text in files.items():
            z.writestr(p, text)
        z.writestr(f"{dist_info}/RECORD", record)
    return path
