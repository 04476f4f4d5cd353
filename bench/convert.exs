# 5. Converting Python values to Elixir: a list of 1M ints (built by the call, and one
# already built), dicts of 100k and 1M string keys, 10k keys to nested containers;
# beside CPython building the same value (the ratio is what the bridge adds). Each call
# runs in a fresh process (a clean heap), interleaved with its baseline so that load
# changes hit both alike.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Convert do
  import Bench.Support

  @n 1_000_000
  @keys 100_000
  @nested 10_000
  @big 1_000_000

  def run do
    range = SnakeBridge.call!("builtins", "range", [@n])
    nil = py!("keep_list", [@n])
    nil = py!("keep_dict", [@keys])

    {list, py_list} =
      pair(
        "call builtins.list(range(1M))",
        fn -> {:ok, [_ | _]} = SnakeBridge.call("builtins", "list", [range]) end,
        "(a) CPython list(range(1M))",
        fn -> py!("build_list", [@n]) end
      )

    kept =
      sample(fn -> [_ | _] = py!("kept_list") end, fresh_process: true)
      |> stats(1000)
      |> then(&report("call returning a built 1M-int list", &1, "ms"))

    {dict, py_dict} =
      pair(
        "call making a dict of 100k str keys",
        fn -> %{} = py!("make_dict", [@keys]) end,
        "(a) CPython building the 100k-key dict",
        fn -> py!("build_dict", [@keys]) end
      )

    kept_dict =
      sample(fn -> %{} = py!("kept_dict") end, fresh_process: true)
      |> stats(1000)
      |> then(&report("call returning a built 100k-key dict", &1, "ms"))

    {nested, py_nested} =
      pair(
        "call making #{@nested} nested entries",
        fn -> %{} = py!("make_nested", [@nested]) end,
        "(a) CPython building them",
        fn -> py!("build_nested", [@nested]) end
      )

    {big, py_big} =
      pair(
        "call making a dict of 1M str keys",
        fn -> %{} = py!("make_dict", [@big]) end,
        "(a) CPython building the 1M-key dict",
        fn -> py!("build_dict", [@big]) end,
        3
      )

    nil = py!("forget")

    [
      # Includes CPython building the list (the baseline beside it); the 40 ms target is
      # for the conversion, the next row.
      row("5 builtins.list(range(1M)) to Elixir", list.median, "ms",
        baseline: {"(a) CPython build", py_list.median},
        max: 1.3
      ),
      row("5 built 1M-int list to Elixir", kept.median, "ms", limit: {:<, 40}),
      row("5 dict, 100k str keys, made by the call", dict.median, "ms",
        baseline: {"(a) CPython build", py_dict.median},
        max: 3
      ),
      row("5 dict, 10k keys to [list, dict], made by the call", nested.median, "ms",
        baseline: {"(a) CPython build", py_nested.median},
        max: 3
      ),
      row("5 dict, 1M str keys, made by the call", big.median, "ms",
        baseline: {"(a) CPython build", py_big.median}
      ),
      row("5 built 100k-key dict to Elixir", kept_dict.median, "ms")
    ]
  end

  # The call (in a fresh process) and CPython's own time for the same value (seconds,
  # timed inside Python), interleaved; medians in ms.
  defp pair(label, call, py_label, py_seconds, reps \\ 7) do
    runs =
      interleave(
        [
          call: fn -> in_process(fn -> tc(call) end) end,
          python: fn -> py_seconds.() * 1_000_000 end
        ],
        reps: reps,
        self_timed: true
      )

    {report(label, stats(runs.call, 1000), "ms"),
     report(py_label, stats(runs.python, 1000), "ms")}
  end
end

Bench.Support.main(Bench.Convert)
