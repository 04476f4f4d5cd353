# 1. Strict SnakeBridge.Runtime.stream_next/2 over a 1M-item Python iterator, per item,
# beside (c) an empty dirty NIF (and one that takes the GIL), (b) a JSON-lines port
# worker answering one `next` per request, and (a) CPython's own loop.
Code.require_file("support.exs", __DIR__)

defmodule Bench.StreamNext do
  import Bench.Support
  alias SnakeBridge.{Native, Runtime}

  @n 1_000_000
  @warm 10_000
  @runs 10
  # Items per timed run: the runs use up the rest of the 1M-item iterator.
  @chunk div(@n - @warm, @runs)
  # Empty NIF calls per interleaved run (fewer than @chunk: only the per-call time matters).
  @noop_calls 25_000
  @port_items 2_000

  def run do
    it = range_iter(@n)
    next = fn -> {:ok, _} = Runtime.stream_next(it) end
    # Warm-up: the first @warm items, and as many empty calls, untimed.
    times(next, @warm).()
    times(&Native.noop/0, @warm).()
    times(&Native.noop_attached/0, @warm).()

    runs =
      interleave(
        [
          stream_next: times(next, @chunk),
          noop: times(&Native.noop/0, @noop_calls),
          noop_attached: times(&Native.noop_attached/0, @noop_calls)
        ],
        reps: @runs,
        warmup: 0
      )

    # All 1M items were used.
    {:error, :stop_iteration} = Runtime.stream_next(it)

    sn =
      report("stream_next strict (1M-item iterator)", stats(runs.stream_next, @chunk), "us/item")

    c = report("(c) Native.noop (empty DirtyIo NIF)", stats(runs.noop, @noop_calls), "us/call")

    ca =
      report(
        "(c) Native.noop_attached (takes the GIL)",
        stats(runs.noop_attached, @noop_calls),
        "us/call"
      )

    port = port_open()
    %{"ok" => true} = port_request(port, ~s({"op":"iter","n":#{@n}}))

    b_times =
      sample(times(fn -> %{"ok" => _} = port_request(port, ~s({"op":"next"})) end, @port_items),
        warmup: 1
      )

    port_close(port)
    b = report("(b) port worker, one JSON line per item", stats(b_times, @port_items), "us/item")

    # The same calls on a stream made with stream_batch: 1000: items pulled ahead come
    # from a normal-scheduler NIF, without a dirty round trip.
    batched = range_iter(@n, __runtime__: [stream_batch: 1000])
    next_batched = fn -> {:ok, _} = Runtime.stream_next(batched) end

    sb =
      sample(times(next_batched, @chunk), reps: 5)
      |> stats(@chunk)
      |> then(&report("stream_next on a stream_batch 1000 stream", &1, "us/item"))

    a =
      report(
        "(a) CPython for-loop over iter(range(1M))",
        stats(python_loop(:range, @n), @n),
        "us/item"
      )

    [
      row("1 stream_next strict, per item", sn.median, "us",
        baseline: {"(c) noop", c.median},
        max: 1.3
      ),
      row("1 stream_next strict, per item", sn.median, "us",
        baseline: {"(c) noop_attached", ca.median},
        max: 1.3
      ),
      row("1 stream_next strict, per item", sn.median, "us",
        baseline: {"(b) port", b.median},
        min_speedup: 40
      ),
      row("1 stream_next strict, per item", sn.median, "us", baseline: {"(a) CPython", a.median}),
      row("1 stream_next, stream_batch 1000, per item", sb.median, "us",
        baseline: {"(b) port", b.median},
        speedup: true
      )
    ]
  end
end

Bench.Support.main(Bench.StreamNext)
