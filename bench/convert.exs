# 5. Converting Python values to Elixir: a list of 1M ints (built by the call, and one
# already built), a dict of 100k string keys; beside CPython building the same value.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Convert do
  import Bench.Support

  @n 1_000_000
  @keys 100_000

  def run do
    range = SnakeBridge.call!("builtins", "range", [@n])
    nil = py!("keep_list", [@n])
    nil = py!("keep_dict", [@keys])

    opts = [fresh_process: true]

    list =
      sample(fn -> {:ok, [_ | _]} = SnakeBridge.call("builtins", "list", [range]) end, opts)
      |> stats(1000)
      |> then(&report("call builtins.list(range(1M))", &1, "ms"))

    kept =
      sample(fn -> [_ | _] = py!("kept_list") end, opts)
      |> stats(1000)
      |> then(&report("call returning a built 1M-int list", &1, "ms"))

    py_list =
      for(_ <- 1..7, do: py!("build_list", [@n]) * 1_000_000)
      |> stats(1000)
      |> then(&report("(a) CPython list(range(1M))", &1, "ms"))

    dict =
      sample(fn -> %{} = py!("make_dict", [@keys]) end, opts)
      |> stats(1000)
      |> then(&report("call making a dict of 100k str keys", &1, "ms"))

    kept_dict =
      sample(fn -> %{} = py!("kept_dict") end, opts)
      |> stats(1000)
      |> then(&report("call returning a built 100k-key dict", &1, "ms"))

    py_dict =
      for(_ <- 1..7, do: py!("build_dict", [@keys]) * 1_000_000)
      |> stats(1000)
      |> then(&report("(a) CPython building the 100k-key dict", &1, "ms"))

    nil = py!("forget")

    [
      # Includes CPython building the list (the baseline beside it); the 40 ms target is
      # for the conversion, the next row.
      row("5 builtins.list(range(1M)) to Elixir", list.median, "ms",
        baseline: {"(a) CPython build", py_list.median}
      ),
      row("5 built 1M-int list to Elixir", kept.median, "ms", limit: {:<, 40}),
      row("5 dict, 100k str keys, made by the call", dict.median, "ms",
        baseline: {"(a) CPython build", py_dict.median}
      ),
      row("5 built 100k-key dict to Elixir", kept_dict.median, "ms")
    ]
  end
end

Bench.Support.main(Bench.Convert)
