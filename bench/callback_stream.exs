# 3. Callback streaming: SnakeBridge.stream/5 (a worker thread sends batches to the
# caller) over range(n) and a generator, items/s; beside (a) CPython's own loop.
Code.require_file("support.exs", __DIR__)

defmodule Bench.CallbackStream do
  import Bench.Support

  @sizes [1_000_000, 5_000_000]
  @gen 1_000_000

  def run do
    noop = fn _ -> :ok end

    range_rows =
      for n <- @sizes do
        st =
          sample(fn -> :ok = SnakeBridge.stream("builtins", "range", [n], [], noop) end)
          |> stats(n)
          |> then(&report("stream(builtins.range, [#{n}]), no-op callback", &1, "us/item"))

        a =
          report(
            "(a) CPython for-loop over range(#{n})",
            stats(python_loop(:range, n), n),
            "us/item"
          )

        row("3 stream/5 range(#{div(n, 1_000_000)}M), callback", rate(st.median), "M ints/s",
          higher_better: true,
          limit: {:>=, 5},
          baseline: {"(a) CPython", rate(a.median)}
        )
      end

    gen =
      sample(fn -> :ok = SnakeBridge.stream("sb_bench", "gen", [@gen], [], noop) end)
      |> stats(@gen)
      |> then(&report("stream(sb_bench.gen, [1M]), no-op callback", &1, "us/item"))

    a_gen =
      report(
        "(a) CPython for-loop over a 1M-item generator",
        stats(python_loop(:gen, @gen), @gen),
        "us/item"
      )

    range_rows ++
      [
        row("3 stream/5 1M generator, callback", rate(gen.median), "M ints/s",
          higher_better: true,
          limit: {:>=, 5},
          baseline: {"(a) CPython", rate(a_gen.median)}
        )
      ]
  end
end

Bench.Support.main(Bench.CallbackStream)
