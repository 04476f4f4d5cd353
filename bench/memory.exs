# 6. Memory: 1M StreamRefs made and dropped (by processes that then exit), then 10M items
# streamed (5M through a batched StreamRef, 5M through stream/5); the BEAM's RSS from the
# OS and Python's live (gc-tracked) objects before and after, once the cleanup thread
# has released everything.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Memory do
  import Bench.Support
  alias SnakeBridge.Native

  @refs 1_000_000
  @per_call 1_000
  @per_proc 10_000
  @items 5_000_000

  def run do
    # Warm every path once, so that first-use allocations are not counted as growth.
    exercise(2 * @per_call, 2 * @per_call, 10_000)
    {live0, 0} = wait_stats()
    objs0 = settle()
    rss0 = rss_mb()

    {us, _} = :timer.tc(fn -> exercise(@refs, @per_proc, 0) end)
    IO.puts("  #{@refs} StreamRefs made and dropped in #{fmt(us / 1_000_000)} s")
    rss_refs = rss_mb()
    _ = settle()
    rss_refs_settled = rss_mb()
    {us, _} = :timer.tc(fn -> exercise(0, 0, @items) end)
    IO.puts("  #{2 * @items} items streamed in #{fmt(us / 1_000_000)} s")

    objs1 = settle()
    {live1, 0} = wait_stats()
    rss1 = rss_mb()

    IO.puts(
      "  RSS MB: start #{fmt(rss0)}, after the refs #{fmt(rss_refs)} (released: #{fmt(rss_refs_settled)}), end #{fmt(rss1)}, peak #{fmt(rss_mb("VmHWM"))}"
    )

    IO.puts(
      "  live Python objects: start #{objs0}, end #{objs1}; live streams #{live0} -> #{live1}"
    )

    delta = (objs1 - objs0) / objs0 * 100

    malloc_trim = py!("malloc_trim")
    rss_trim = rss_mb()
    IO.puts("  RSS after glibc malloc_trim(0) (returned #{malloc_trim}): #{fmt(rss_trim)} MB")

    [
      row("6 RSS growth, 1M StreamRefs + 10M items", rss1 - rss0, "MB",
        limit: {:<, 50},
        baseline: "start #{fmt(rss0)} MB, peak #{fmt(rss_mb("VmHWM"))} MB"
      ),
      row("6 RSS growth after malloc_trim(0)", rss_trim - rss0, "MB"),
      row("6 live Python objects, change", abs(delta), "%",
        limit: {:<, 1},
        baseline: "start #{objs0}, end #{objs1}"
      ),
      row("6 live stream handles left", (live1 - live0) * 1.0, "handles",
        limit: {:<, 1},
        baseline: "start #{live0}"
      )
    ]
  end

  # Makes `refs` StreamRefs (@per_call per call, in processes that make `per_proc` each
  # and exit: at most about `per_proc` are alive at once; RSS grows with that peak), then streams `items` items each way.
  defp exercise(refs, per_proc, items) do
    for _ <- 1..div(refs, max(per_proc, 1))//1 do
      in_process(fn ->
        held = for _ <- 1..div(per_proc, @per_call), do: py!("make_streams", [@per_call])
        @per_call = length(hd(held))
        :ok
      end)
    end

    if items > 0 do
      it = range_iter(items, __runtime__: [stream_batch: 1000])
      ^items = Enum.reduce(it, 0, fn _, n -> n + 1 end)
      :ok = SnakeBridge.stream("builtins", "range", [items], [], fn _ -> :ok end)
    end

    :ok
  end

  defp wait_stats do
    _ = settle()
    Native.stats()
  end
end

Bench.Support.main(Bench.Memory)
