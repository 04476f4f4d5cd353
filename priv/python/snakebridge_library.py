"""Introspection for `use SnakeBridge.Library` (generated Elixir wrappers).

`describe(module_name)` imports a module and reports, as plain values (dicts, lists,
strings), what the Elixir generator needs: its public functions with their parameters,
annotations and docstrings, its public classes (constructor, methods, attributes), its
constants, and where it came from (source file, installed distribution). It runs in the
embedded interpreter at compile time, through the ordinary call path.

`isinstance_of(obj, module_name, qualname)` is the slow path of a generated class's
check that a Ref holds one of its instances (a subclass instance, say).
"""

import ast
import collections.abc as cabc
import importlib
import inspect
import sys
import textwrap
import types
import typing

_EMPTY = inspect.Parameter.empty
_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional_only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}
_STREAMS = (cabc.Iterator, cabc.Generator, cabc.AsyncIterator, cabc.AsyncGenerator)
_CONSTANT_TYPES = (int, float, str, bytes, bool, type(None))


def describe(module_name):
    module = importlib.import_module(module_name)
    names = _public_names(module)
    classes = _class_names(module, names)

    functions, constants, class_list = [], [], []
    for name in names:
        try:
            obj = getattr(module, name)
        except AttributeError:
            continue
        if inspect.isclass(obj):
            if classes.get(obj) == name:
                entry = _class(name, obj, classes)
                entry["aliases"] = [n for n in names if n != name and _same(module, n, obj)]
                class_list.append(entry)
        elif isinstance(obj, types.ModuleType):
            continue
        elif callable(obj):
            functions.append(_function(name, obj, classes, skip_self=False))
        elif _is_constant(obj):
            constants.append({"name": name, "value": obj})

    return {
        "module": module.__name__,
        "file": getattr(module, "__file__", None),
        "doc": inspect.getdoc(module),
        "distribution": _distribution(module),
        "functions": functions,
        "classes": class_list,
        "constants": constants,
    }


def isinstance_of(obj, module_name, qualname):
    cls = sys.modules[module_name]
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return isinstance(obj, cls)


def _class_names(module, names):
    """Each public class under one name: the one equal to its __name__ when it has
    several (numpy's `bool` and `bool_`), else the first in sorted order."""
    by_class = {}
    for name in names:
        obj = getattr(module, name, None)
        if inspect.isclass(obj):
            by_class.setdefault(obj, []).append(name)
    return {
        cls: (cls.__name__ if cls.__name__ in group else group[0])
        for cls, group in by_class.items()
    }


def _same(module, name, obj):
    return getattr(module, name, None) is obj


def _public_names(module):
    explicit = getattr(module, "__all__", None)
    if explicit is not None:
        return sorted(set(n for n in explicit if hasattr(module, n)))
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_") or isinstance(obj, types.ModuleType):
            continue
        # Without __all__: what the module defines, not what it imported.
        owner = getattr(obj, "__module__", None)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and owner != module.__name__:
            continue
        out.append(name)
    return sorted(out)


def _is_constant(value, depth=0):
    if isinstance(value, _CONSTANT_TYPES):
        return True
    if depth < 3 and isinstance(value, (tuple, list, frozenset)):
        return all(_is_constant(v, depth + 1) for v in value)
    if depth < 3 and type(value) is dict:
        return all(_is_constant(k, depth + 1) and _is_constant(v, depth + 1) for k, v in value.items())
    return False


def _signature(obj):
    try:
        return inspect.signature(obj, eval_str=True)
    except TypeError:
        # Python 3.9 has no eval_str: string annotations are resolved here.
        try:
            return _with_hints(inspect.signature(obj), obj)
        except Exception:
            return None
    except Exception:
        try:
            return inspect.signature(obj)
        except Exception:
            return None


def _with_hints(sig, obj):
    try:
        hints = typing.get_type_hints(obj)
    except Exception:
        return sig
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=hints.get("return", sig.return_annotation))


def _forwarding(sig):
    """`(*args, **kwargs)` and the like: what a metaclass's __call__, a decorator
    without functools.wraps or a C type report, saying nothing of the real
    parameters."""
    kinds = [p.kind for p in sig.parameters.values()]
    return inspect.Parameter.VAR_POSITIONAL in kinds and all(
        k in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD) for k in kinds
    )


def _function(name, obj, classes, skip_self, kind="function"):
    sig = _signature(obj)
    params = None
    returns = "term"
    text = None
    if sig is not None:
        plist = list(sig.parameters.values())
        if skip_self and plist and plist[0].kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            plist = plist[1:]
            sig = sig.replace(parameters=plist)
        params = None if _forwarding(sig) else [
            {
                "name": p.name,
                "kind": _KINDS[p.kind],
                "default": p.default is not _EMPTY,
                "type": _spec(p.annotation, classes),
            }
            for p in plist
        ]
        returns = _spec(sig.return_annotation, classes)
        text = str(sig)
    target = getattr(obj, "__func__", obj)
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        returns = "stream"
    return {
        "name": name,
        "kind": kind,
        "params": params,
        "signature": text,
        "returns": returns,
        "doc": _doc(obj),
    }


def _doc(obj):
    try:
        doc = inspect.getdoc(obj)
    except Exception:
        doc = None
    return doc if isinstance(doc, str) else None


def _class(name, cls, classes):
    init = None
    try:
        sig = inspect.signature(cls)
        init = _function("__init__", cls, classes, skip_self=False)
        init["signature"] = str(sig)
    except Exception:
        init = {"name": "__init__", "kind": "function", "params": None, "signature": None,
                "returns": "term", "doc": None}
    init["returns"] = ["class", name]

    methods, attributes = [], []
    seen = set()
    for attr in dir(cls):
        if attr.startswith("_") or attr in seen:
            continue
        seen.add(attr)
        try:
            static = inspect.getattr_static(cls, attr)
        except AttributeError:
            continue
        if isinstance(static, staticmethod):
            methods.append(_function(attr, getattr(cls, attr), classes, False, "staticmethod"))
        elif isinstance(static, classmethod):
            methods.append(_function(attr, getattr(cls, attr), classes, False, "classmethod"))
        elif isinstance(static, property):
            attributes.append({"name": attr, "kind": "property", "doc": _doc(static),
                               "type": _spec(_property_type(static), classes)})
        elif inspect.isfunction(static) or inspect.ismethoddescriptor(static) and callable(static):
            methods.append(_function(attr, getattr(cls, attr), classes, True, "method"))
        elif inspect.isdatadescriptor(static):
            attributes.append({"name": attr, "kind": "attribute", "doc": _doc(static), "type": "term"})
        elif inspect.isclass(static) or callable(static):
            continue
        else:
            attributes.append({"name": attr, "kind": "attribute", "doc": None, "type": "term"})

    annotations = {}
    for klass in reversed(cls.__mro__):
        annotations.update(getattr(klass, "__annotations__", {}) or {})
    for attr in list(annotations) + _init_assignments(cls):
        if attr.startswith("_") or attr in seen:
            continue
        seen.add(attr)
        attributes.append({"name": attr, "kind": "attribute", "doc": None,
                           "type": _spec(annotations.get(attr, _EMPTY), classes)})

    return {
        "name": name,
        "qualname": cls.__qualname__,
        "module": cls.__module__,
        "doc": _doc(cls),
        "init": init,
        "methods": methods,
        "attributes": attributes,
    }


def _property_type(prop):
    sig = _signature(prop.fget)
    return _EMPTY if sig is None else sig.return_annotation


def _init_assignments(cls):
    """Names assigned as `self.name = ...` in the class's own __init__ (source needed)."""
    init = cls.__dict__.get("__init__")
    if not inspect.isfunction(init):
        return []
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except Exception:
        return []
    args = tree.body[0].args.args if tree.body and hasattr(tree.body[0], "args") else []
    if not args:
        return []
    this = args[0].arg
    out = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == this:
                if t.attr not in out:
                    out.append(t.attr)
    return out


def _spec(t, classes):
    """An annotation as a small tree the Elixir side turns into a typespec."""
    if t is _EMPTY or isinstance(t, str):
        return "term"
    if t is None or t is type(None):
        return "nil"
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "float"
    if t is str:
        return "string"
    if t is bytes:
        return "binary"
    if t in classes:
        return ["class", classes[t]]
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if t is list or origin is list:
        return ["list", _spec(args[0], classes) if args else "term"]
    if t is dict or origin is dict:
        if len(args) == 2:
            return ["map", _spec(args[0], classes), _spec(args[1], classes)]
        return ["map", "term", "term"]
    if t is tuple or origin is tuple:
        if args and Ellipsis not in args and args != ((),):
            return ["tuple", [_spec(a, classes) for a in args]]
        return "tuple"
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return ["union", [_spec(a, classes) for a in args]]
    if t in _STREAMS or origin in _STREAMS:
        return "stream"
    return "term"


def _in_stdlib(top):
    names = getattr(sys, "stdlib_module_names", None)  # Python 3.10+
    if names is not None:
        return top in names
    # Python 3.9: by where the module lives.
    import os
    import sysconfig

    path = getattr(sys.modules.get(top), "__file__", None)
    if path is None:
        return False
    path = os.path.realpath(path)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    return path.startswith(stdlib + os.sep) and "site-packages" not in path


def _distribution(module):
    """The installed distribution's metadata directory and version, or None (stdlib,
    a plain source tree)."""
    top = module.__name__.partition(".")[0]
    if top in sys.builtin_module_names or _in_stdlib(top):
        return None
    try:
        from importlib import metadata
    except ImportError:
        return None
    def candidates():
        yield top
        try:
            yield from metadata.packages_distributions().get(top, [])
        except Exception:
            return

    for dist_name in candidates():
        try:
            dist = metadata.distribution(dist_name)
        except Exception:
            continue
        path = getattr(dist, "_path", None)
        return {"name": dist.metadata["Name"], "version": dist.version,
                "path": str(path) if path is not None else None}
    return None
