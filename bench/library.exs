# 9. Generated wrappers (guides/generated-wrappers.md): compile time of `use SnakeBridge.Library`
# for json, math, statistics, os.path, generated 200-, 1000- and 2000-function Python
# modules (mixed signatures) and numpy and pandas when the interpreter has them (e.g.
# SNAKEBRIDGE_PYTHON=a venv of the build Python with numpy and pandas), each a fresh
# module name with Python's import already cached, beside statistics; and the per-call
# cost of a generated function (Math.sqrt(2.0), Json.dumps with an option) beside the
# equivalent SnakeBridge.call/4, interleaved in the same run.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Library do
  import Bench.Support

  @calls 40_000

  # {python module, samples}: the big ones once (tens of seconds on a loaded machine).
  @compiled [
    {"json", 5},
    {"math", 5},
    {"statistics", 5},
    {"os.path", 5},
    {"sb_bench_gen200", 3},
    {"sb_bench_gen1000", 1},
    {"sb_bench_gen2000", 1},
    {"numpy", 1},
    {"pandas", 1}
  ]

  def run do
    for n <- [200, 1000, 2000], do: write_module!(n)
    # Imported once before timing (the first import of numpy or pandas takes seconds).
    available = Enum.filter(@compiled, fn {python, _} -> importable?(python) end)

    for {python, _} <- @compiled -- available,
        do: IO.puts("9 compile wrapper: #{python}: not importable here, skipped")

    times =
      for {python, reps} <- available do
        warmup = if reps > 1, do: 1, else: 0
        times = sample(fn -> compile(python) end, reps: reps, warmup: warmup)
        st = report("compile use SnakeBridge.Library, python: #{python}", stats(times), "us")
        {python, st.median / 1000}
      end

    base = List.keyfind(times, "statistics", 0) |> elem(1)

    compile_rows =
      for {python, ms} <- times do
        limit =
          case python do
            "sb_bench_gen1000" -> nil
            "sb_bench_gen2000" -> {:<, 10_000}
            big when big in ["numpy", "pandas"] -> {:<, 15_000}
            _ -> {:<, 1000}
          end

        row("9 compile wrapper: #{python}", ms, "ms",
          baseline: {"statistics same run", base},
          limit: limit
        )
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

  defp importable?(python) do
    match?({:ok, _}, SnakeBridge.call("importlib", "import_module", [python]))
  end

  # n functions of varied shapes (required, defaults, keyword-only, *args, **kwargs,
  # annotations, docstrings), written to a temporary directory on sys.path.
  defp write_module!(n) do
    dir = Path.join(System.tmp_dir!(), "sb_bench_library")
    File.mkdir_p!(dir)

    source =
      for i <- 0..(n - 1), into: "" do
        case rem(i, 5) do
          0 ->
            "def f#{i}(a: int, b: int = 1) -> int:\n    \"\"\"Function #{i}.\"\"\"\n    return a + b\n\n"

          1 ->
            "def f#{i}(a, *, key, flag=False):\n    \"\"\"Function #{i}.\"\"\"\n    return a\n\n"

          2 ->
            "def f#{i}(a, /, *args, **kw) -> list[str]:\n    \"\"\"Function #{i}.\"\"\"\n    return []\n\n"

          3 ->
            "def f#{i}(x: float, y: float = 0.0, z: float = 0.0) -> float:\n    return x\n\n"

          4 ->
            "def f#{i}(a, b):\n    return a\n\n"
        end
      end

    File.write!(Path.join(dir, "sb_bench_gen#{n}.py"), source)
    {:ok, _} = SnakeBridge.call("sys", "path.insert", [0, dir])
    {:ok, _} = SnakeBridge.call("importlib", "invalidate_caches", [])
  end
end

Bench.Support.main(Bench.Library)
