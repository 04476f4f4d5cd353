# 7. Enumerating an iterable %SnakeBridge.Ref{}: Enum.sum over a range(1M)
# Ref, which pulls 1, 2, 4, ... up to 1024 items per hand-off, beside the one-by-one
# path it replaced (a strict StreamRef over iter(range), one hand-off per item: what the
# Ref's Enumerable did before), measured in the same run.
Code.require_file("support.exs", __DIR__)

defmodule Bench.RefEnum do
  import Bench.Support

  @n 1_000_000
  @sum div(@n * (@n - 1), 2)

  def run do
    range = SnakeBridge.call!("builtins", "range", [@n])

    batched =
      sample(fn -> @sum = Enum.sum(range) end)
      |> ms()
      |> then(&report("Enum.sum(range(1M) Ref), batched", &1, "ms"))

    # About 5 s a run: three runs, no warm-up.
    one_by_one =
      sample(&(@sum = Enum.sum(&1)),
        setup: fn -> SnakeBridge.call!("builtins", "iter", [range]) end,
        reps: 3,
        warmup: 0
      )
      |> ms()
      |> then(&report("the same, one item per hand-off (before)", &1, "ms"))

    [
      row("7 Enum.sum over a range(1M) Ref", batched.median, "ms",
        limit: {:<, 100},
        baseline: {"one by one", one_by_one.median},
        min_speedup: 30
      )
    ]
  end

  defp ms(times_us), do: times_us |> Enum.map(&(&1 / 1000)) |> stats()
end

Bench.Support.main(Bench.RefEnum)
