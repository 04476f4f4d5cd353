# 9. Generated wrappers (guides/generated-wrappers.md): compile time of `use SnakeBridge.Library` for json,
# math, statistics, os.path and a generated 200-function Python module (each compile a
# fresh module name, Python's import already cached); and the per-call cost of a
# generated function (Math.sqrt(2.0), Json.dumps with an option) beside the equivalent
# SnakeBridge.call/4, interleaved in the same run.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Library do
  import Bench.Support

  @calls 40_000
  @python_200 "sb_bench_gen200"

  def run do
    write_200!()

    compile_rows =
      for python <- ["json", "math", "statistics", "os.path", @python_200] do
        times = sample(fn -> compile(python) end, reps: 5, warmup: 1)
        st = report("compile use SnakeBridge.Library, python: #{python}", stats(times), "us")

        row("9 compile wrapper: #{python}", st.median / 1000, "ms", limit: {:<, 1000})
      end

    math = compile(Bench.Library.Math, "math")
    json = compile(Bench.Library.Json, "json")

    runs =
      interleave(
        [
          call: times(fn -> {:ok, _} = SnakeBridge.call("math", "sqrt", [2.0]) end, @calls),
          generated: times(fn -> {:ok, _} = math.sqrt(2.0) end, @calls),
          call_opts:
            times(fn -> {:ok, _} = SnakeBridge.call("json", "dumps", [1], indent: 2) end, @calls),
          generated_opts: times(fn -> {:ok, _} = json.dumps(1, indent: 2) end, @calls)
        ],
        reps: 11,
        warmup: 1
      )

    c = report("SnakeBridge.call(\"math\", \"sqrt\", [2.0])", stats(runs.call, @calls), "us/call")
    g = report("Math.sqrt(2.0) (generated)", stats(runs.generated, @calls), "us/call")

    co =
      report(
        "SnakeBridge.call json.dumps(1, indent: 2)",
        stats(runs.call_opts, @calls),
        "us/call"
      )

    go =
      report(
        "Json.dumps(1, indent: 2) (generated)",
        stats(runs.generated_opts, @calls),
        "us/call"
      )

    compile_rows ++
      [
        row("9 generated Math.sqrt(2.0)", g.median, "us/call",
          baseline: {"call/4 same run", c.median}
        ),
        row("9 generated minus call/4, math.sqrt", g.median - c.median, "us/call",
          limit: {:<, 0.3}
        ),
        # The fastest runs, where the machine's other load adds least.
        row("9 generated minus call/4, sqrt, min", g.min - c.min, "us/call", limit: {:<, 0.3}),
        row("9 generated Json.dumps(1, indent: 2)", go.median, "us/call",
          baseline: {"call/4 same run", co.median}
        ),
        row("9 generated minus call/4, with opts", go.median - co.median, "us/call",
          limit: {:<, 0.3}
        )
      ]
  end

  defp compile(python) do
    name = Module.concat(Bench.Library, "W#{System.unique_integer([:positive])}")
    compile(name, python)
  end

  defp compile(name, python) do
    Code.compile_quoted(
      quote do
        defmodule unquote(name) do
          use SnakeBridge.Library, python: unquote(python)
        end
      end
    )

    name
  end

  # 200 functions of varied shapes (defaults, keyword-only, *args, **kwargs,
  # annotations, docstrings), written to a temporary directory on sys.path.
  defp write_200! do
    dir = Path.join(System.tmp_dir!(), "sb_bench_library")
    File.mkdir_p!(dir)

    source =
      for i <- 0..199, into: "" do
        case rem(i, 4) do
          0 ->
            "def f#{i}(a: int, b: int = 1) -> int:\n    \"\"\"Function #{i}.\"\"\"\n    return a + b\n\n"

          1 ->
            "def f#{i}(a, *, key, flag=False):\n    \"\"\"Function #{i}.\"\"\"\n    return a\n\n"

          2 ->
            "def f#{i}(a, /, *args, **kw) -> list[str]:\n    \"\"\"Function #{i}.\"\"\"\n    return []\n\n"

          3 ->
            "def f#{i}(x: float, y: float = 0.0, z: float = 0.0) -> float:\n    return x\n\n"
        end
      end

    File.write!(Path.join(dir, @python_200 <> ".py"), source)
    {:ok, _} = SnakeBridge.call("sys", "path.insert", [0, dir])
    {:ok, _} = SnakeBridge.call("importlib", "invalidate_caches", [])
  end
end

Bench.Support.main(Bench.Library)
