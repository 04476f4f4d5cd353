"""Baseline (b) of the SnakeBridge benchmarks: a Python subprocess behind an Erlang port,
one JSON line per request and per answer.

Requests:  {"op":"iter","n":N}  -> {"ok":true}      (starts iter(range(N)))
           {"op":"next"}        -> {"ok":item} or {"error":"stop_iteration"}
           {"op":"sqrt","x":X}  -> {"ok":math.sqrt(X)}
"""

import json
import math
import sys


def main():
    it = iter(())
    read = sys.stdin.readline
    write = sys.stdout.write
    flush = sys.stdout.flush
    while True:
        line = read()
        if not line:
            return
        req = json.loads(line)
        op = req.get("op")
        if op == "next":
            try:
                resp = {"ok": next(it)}
            except StopIteration:
                resp = {"error": "stop_iteration"}
        elif op == "sqrt":
            resp = {"ok": math.sqrt(req["x"])}
        elif op == "iter":
            it = iter(range(req["n"]))
            resp = {"ok": True}
        else:
            resp = {"error": f"unknown op {op!r}"}
        write(json.dumps(resp) + "\n")
        flush()


if __name__ == "__main__":
    main()
