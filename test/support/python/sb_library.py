"""A module with every signature kind, for the generated-wrapper tests."""

from typing import Iterator, Optional

ANSWER = 42
greeting = "hello"
_private = 1


def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


def scale(x: float, factor: float = 2.0, offset: float = 0.0) -> float:
    """x * factor + offset."""
    return x * factor + offset


def pos_only(a, b=10, /):
    """Positional-only parameters, one with a default."""
    return [a, b]


def kw(a, *, required, optional="opt"):
    """Keyword-only parameters: one required, one optional."""
    return {"a": a, "required": required, "optional": optional}


def varargs(first, *rest):
    """*args."""
    return [first, list(rest)]


def kwargs(a, **extra):
    """**kwargs."""
    return {"a": a, "extra": extra}


def everything(a, /, b, c=3, *args, d, e=5, **kw):
    """Every kind of parameter at once."""
    return [a, b, c, list(args), d, e, kw]


def typed(xs: list[int], m: dict[str, float], o: Optional[str] = None) -> list[str]:
    """Annotations that map to typespecs."""
    return [str(x) for x in xs]


def numbers(n: int) -> Iterator[int]:
    """An annotated iterator."""
    return iter(range(n))


def generate(input, stream=False, count=3):
    """A generator function: yields count chunks built from input."""
    for i in range(count):
        yield f"{input}-{i}" if stream else i


def slow_generate(n):
    """Yields n items, slowly."""
    import time

    for i in range(n):
        time.sleep(0.05)
        yield i


def fail(message):
    """Raises ValueError."""
    raise ValueError(message)


def echo(x):
    """Returns its argument."""
    return x


def make_point(x, y) -> "Point":
    return Point(x, y)


# A Python name that is an Elixir reserved word.
def end(x):
    """Named like an Elixir keyword."""
    return x + 1


class Point:
    """A point in the plane."""

    dims: int = 2

    def __init__(self, x: float, y: float = 0.0):
        self.x = x
        self.y = y

    def norm(self) -> float:
        """The distance to the origin."""
        return (self.x**2 + self.y**2) ** 0.5

    def moved(self, dx, dy=0, *, scale=1) -> "Point":
        """A new point, moved by (dx, dy) * scale."""
        return Point(self.x + dx * scale, self.y + dy * scale)

    @property
    def as_tuple(self) -> tuple[float, float]:
        """The coordinates as a tuple."""
        return (self.x, self.y)

    @classmethod
    def origin(cls) -> "Point":
        """The point (0, 0)."""
        return cls(0, 0)

    @staticmethod
    def distance(a: "Point", b: "Point") -> float:
        """The distance between two points."""
        return ((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5


class Point3(Point):
    """A subclass: its instances are Points too."""

    def __init__(self, x, y, z):
        super().__init__(x, y)
        self.z = z


class Other:
    """Another class (for the wrong-class error)."""

    def norm(self):
        return -1
