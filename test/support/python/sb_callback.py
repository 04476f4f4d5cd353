"""Python helpers of callback_test: Python sending to pids and calling Elixir functions."""

import threading

import snakebridge


def send_each(pid, values):
    for v in values:
        pid.send(v)
    return len(values)


def module_send(pid, value):
    snakebridge.send(pid, value)


def apply(fun, *args):
    return fun(*args)


def apply_kw(fun):
    return fun(x=1)


def map_with(fun, items):
    return [fun(x) for x in items]


def catch_elixir_error(fun):
    try:
        fun()
    except snakebridge.ElixirError as e:
        return ["ElixirError", str(e)]


def in_thread(fun, value):
    out = {}

    def run():
        out["v"] = fun(value)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out["v"]


def send_from_thread(pid, value):
    t = threading.Thread(target=pid.send, args=(value,))
    t.start()
    t.join()


def identity(x):
    return x


def double(x):
    return x * 2


def pid_facts(a, b):
    return {"equal": a == b, "hash_equal": hash(a) == hash(b), "repr": repr(a)}
