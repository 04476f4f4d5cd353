"""The Python side of SnakeBridge's ~PY sigil (module `_snakebridge_sigil`)."""

import ast
import builtins
import symtable


def scan(code, filename, first_line):
    """(referenced, defined): the global names the code reads (builtins left out), and
    the names it binds at its top level; or (None, line, message) for a syntax error,
    its line counted in `filename`."""
    try:
        table = symtable.symtable(code, filename, "exec")
    except SyntaxError as e:
        return None, (e.lineno or 1) + first_line - 1, f"{type(e).__name__}: {e.msg}"
    refs, defs = set(), set()

    def walk(t, top):
        for sym in t.get_symbols():
            name = sym.get_name()
            if top:
                if sym.is_referenced():
                    refs.add(name)
                if sym.is_assigned() or sym.is_imported():
                    defs.add(name)
            elif sym.is_referenced() and sym.is_global():
                refs.add(name)
        for child in t.get_children():
            walk(child, False)

    walk(table, True)
    return sorted(refs - set(dir(builtins))), sorted(defs)


def run(code, scope, names, filename, first_line):
    """Runs `code` with the globals `scope`: (the value of its last statement when that
    is an expression, else None; the values of `names` it left, a name it deleted left
    out). Line numbers are the file's, so tracebacks point into it."""
    tree = ast.parse(code, filename, "exec")
    ast.increment_lineno(tree, first_line - 1)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), scope)
    value = None if last is None else eval(compile(last, filename, "eval"), scope)
    return value, {n: scope[n] for n in names if n in scope}
