"""Names and signatures the generator must not trip on (test/library_names_test.exs)."""

import functools


class Meta(type):
    """A metaclass whose __call__ says nothing of the parameters."""

    def __call__(cls, *args, **kwargs):
        return super().__call__(*args, **kwargs)


class WithMeta(metaclass=Meta):
    """Made through Meta.__call__: inspect.signature reports (*args, **kwargs)."""

    def __init__(self, value, scale=1):
        self.value = value * scale


def _decorate(f):
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)

    return wrapper


@_decorate
def wrapped(a, b=2):
    """A decorator without functools.wraps: (*args, **kwargs)."""
    return [a, b]


def _inner(a, b=2):
    """functools.wraps: the signature of the wrapped function."""
    return [a, b]


@functools.wraps(_inner)
def kept(*args, **kwargs):
    return _inner(*args, **kwargs)


class flag:
    """A class under two names (as numpy's bool and bool_)."""

    def __init__(self, on=True):
        self.on = on


flag_ = flag


class __dunder_like__:
    """A class named with underscores on both sides (numpy's __array_namespace_info__)."""

    def info(self):
        return "info"


def when(x):
    """Named like an Elixir reserved word."""
    return x


def nil():
    return None


def fn(x, do=1):
    """Reserved words as the name and as a parameter."""
    return [x, do]


# builtins without a signature
from math import log  # noqa: E402

__all__ = [
    "WithMeta",
    "wrapped",
    "kept",
    "flag",
    "flag_",
    "__dunder_like__",
    "when",
    "nil",
    "fn",
    "log",
]
