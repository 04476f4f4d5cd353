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
      kinds() ++
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

  # Per item, beside Python's own list(gen) over the same generator (issue 23's goal:
  # at most 1.5x): ints, floats and short strs, through a plain StreamRef's
  # stream_next_batch loop, a stream_batch StreamRef's Enum.reduce (the next batch is
  # produced while this one is used) and an iterable Ref's Enum.reduce (growing batches).
  # Interleaved runs, so load hits the baseline and the rows alike.
  defp kinds do
    for kind <- ~w(int float str) do
      gen = fn opts -> py!("typed_gen", [@n, kind], opts) end
      typed = py!("Typed", [@n, kind])
      count = fn enum -> Enum.reduce(enum, 0, fn _, acc -> acc + 1 end) end

      runs =
        interleave(
          [
            python: fn -> py!("list_gen", [@n, kind]) * 1_000_000 end,
            next_batch: fn ->
              it = gen.([])
              tc(fn -> @n = drain(it, 0) end)
            end,
            stream_batch: fn ->
              it = gen.(@opts)
              tc(fn -> @n = count.(it) end)
            end,
            ref: fn -> tc(fn -> @n = count.(typed) end) end
          ],
          reps: 5,
          self_timed: true
        )

      # Each run returns its own µs (timed inside, without making the generator).
      st = for {name, us} <- runs, into: %{}, do: {name, stats(us, @n)}
      base = {"Python list(gen)", st.python.median}
      report("(a) Python list(gen), #{kind}", st.python, "us/item")

      for {key, label} <- [
            next_batch: "stream_next_batch(it, 1000) loop",
            stream_batch: "Enum.reduce, stream_batch 1000",
            ref: "Enum.reduce over an iterable Ref"
          ] do
        report("#{label}, #{kind}", st[key], "us/item")

        row("2 #{label}, #{kind}", st[key].median * 1000, "ns/item",
          baseline: base_ns(base),
          max: 1.5
        )
      end
    end
    |> List.flatten()
  end

  defp base_ns({label, us}), do: {label, us * 1000}

  defp drain(it, count) do
    case Runtime.stream_next_batch(it, @batch) do
      {:ok, items} -> drain(it, count + length(items))
      {:error, :stop_iteration} -> count
    end
  end
end

Bench.Support.main(Bench.Batch)
