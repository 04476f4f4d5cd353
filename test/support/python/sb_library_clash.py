"""Two Python names that become the same Elixir function (do -> py_do)."""


def do():
    return 1


def py_do():
    return 2
