"""Two different classes whose names become one Elixir module (Foo and foo)."""


class Foo:
    pass


class foo:
    pass
