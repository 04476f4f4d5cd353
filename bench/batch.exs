# 2. Batched iteration: a StreamRef made with `__runtime__: [stream_batch: 1000]` consumed
# by Enum.to_list/Enum.reduce, Runtime.stream_next_batch/3 on a plain StreamRef, and a
# 1M-item generator; beside (a) CPython's own loop over the same iterator.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Batch do
  import Bench.Support
  alias SnakeBridge.Runtime

  @n 1_000_000
  @batch 1000
  @opts [__runtime__: [stream_batch: @batch]]

  def run do
    a_range =
      report(
        "(a) CPython for-loop over iter(range(1M))",
        stats(python_loop(:range, @n), @n),
        "us/item"
      )

    a_gen =
      report(
        "(a) CPython for-loop over a 1M-item generator",
        stats(python_loop(:gen, @n), @n),
        "us/item"
      )

    to_list =
      sample(&(@n = length(Enum.to_list(&1))),
        setup: fn -> range_iter(@n, @opts) end,
        fresh_process: true
      )
      |> stats(@n)
      |> then(&report("Enum.to_list, stream_batch 1000", &1, "us/item"))

    reduce =
      sample(&(@n = Enum.reduce(&1, 0, fn _, acc -> acc + 1 end)),
        setup: fn -> range_iter(@n, @opts) end
      )
      |> stats(@n)
      |> then(&report("Enum.reduce, stream_batch 1000", &1, "us/item"))

    next_batch =
      sample(&(@n = drain(&1, 0)), setup: fn -> range_iter(@n) end)
      |> stats(@n)
      |> then(&report("Runtime.stream_next_batch(it, 1000) loop", &1, "us/item"))

    gen =
      sample(&(@n = length(Enum.to_list(&1))),
        setup: fn -> py!("gen", [@n], @opts) end,
        fresh_process: true
      )
      |> stats(@n)
      |> then(&report("Enum.to_list of a 1M-item generator, batch 1000", &1, "us/item"))

    # What the BEAM alone takes to build a 1M-element list in a fresh process: the part
    # of Enum.to_list that no NIF can remove.
    elixir =
      sample(&(@n = length(Enum.to_list(&1))), setup: fn -> 1..@n end, fresh_process: true)
      |> stats(@n)
      |> then(&report("Elixir alone: Enum.to_list(1..1M), fresh process", &1, "us/item"))

    [row("2 Elixir alone: Enum.to_list(1..1M)", rate(elixir.median), "M ints/s")] ++
      for {name, st, a} <- [
            {"2 Enum.to_list, stream_batch 1000", to_list, a_range},
            {"2 Enum.reduce, stream_batch 1000", reduce, a_range},
            {"2 stream_next_batch(it, 1000) loop", next_batch, a_range},
            {"2 Enum.to_list, 1M generator, batch 1000", gen, a_gen}
          ] do
        row(name, rate(st.median), "M ints/s",
          higher_better: true,
          limit: {:>=, 15},
          baseline: {"(a) CPython", rate(a.median)},
          max: 2.5
        )
      end
  end

  defp drain(it, count) do
    case Runtime.stream_next_batch(it, @batch) do
      {:ok, items} -> drain(it, count + length(items))
      {:error, :stop_iteration} -> count
    end
  end
end

Bench.Support.main(Bench.Batch)
