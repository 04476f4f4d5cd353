"""Hostile inputs for the robustness tests."""


def nested_list(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def depth_of(value):
    d = 0
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
        d += 1
    return d


def cyclic_list():
    lst = [1]
    lst.append(lst)
    return lst


class Mutator:
    """Changes the dict that holds it when conversion looks at its attributes."""

    def __init__(self, d):
        self.d = d

    def __getattr__(self, name):
        self.d[len(self.d) + 1000] = 0
        raise AttributeError(name)


def self_mutating_dict():
    d = {}
    d["a"] = Mutator(d)
    return d


_kept = {}


def keep(name, value):
    _kept[name] = value
    return value


def kept(name):
    return _kept[name]


def same(value):
    return value


_steps = {}


def slow_gen(n, delay, tag=None):
    """Sleeps `delay` before each item; with `tag`, counts the steps begun (tests wait on it)."""
    import time

    for i in range(n):
        if tag is not None:
            _steps[tag] = _steps.get(tag, 0) + 1
        time.sleep(delay)
        yield i


def steps(tag):
    return _steps.get(tag, 0)


def json_nested(depth):
    """Recursion through C (the json encoder): needs a real stack, not a small one."""
    import json

    return len(json.dumps(nested_list(depth)))


def repr_nested(depth):
    return len(repr(nested_list(depth)))


def big_items(n, size):
    """n items, each a list of `size` ints."""
    for i in range(n):
        yield list(range(i, i + size))


def slow_import_module(dirname, name, delay):
    """Writes a module that takes `delay` seconds to import, then defines f()."""
    import os

    with open(os.path.join(dirname, name + ".py"), "w") as f:
        f.write(f"import time\ntime.sleep({delay})\n\ndef f():\n    return 42\n")
    return True


def sleeping_iter(n, delay):
    """An iterator whose items come from C code that releases the GIL (time.sleep)."""
    import time

    return map(time.sleep, [delay] * n)
