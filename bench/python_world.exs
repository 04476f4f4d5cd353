# 10. Python in a BEAM world (guides/python-in-the-beam.md): what routing Python's output to the caller costs
# a call that prints nothing (calls with routing on and off, interleaved in the same
# run), 100k `print` lines reaching the caller's group leader (beside Python printing
# them to os.devnull itself), and 100 calls of a coroutine awaiting asyncio.sleep(0.2)
# from 100 processes (beside 100 calls of time.sleep(0.2), which hold a call thread each).
Code.require_file("support.exs", __DIR__)

defmodule Bench.PythonWorld do
  import Bench.Support

  @calls 100_000
  @lines 100_000

  def run do
    call = fn -> {:ok, _} = SnakeBridge.call("math", "sqrt", [2.0]) end
    on = fn -> true = SnakeBridge.Native.set_output_routing(true) end
    off = fn -> true = SnakeBridge.Native.set_output_routing(false) end

    runs =
      interleave(
        [
          routed: fn -> on.() && times(call, @calls).() end,
          not_routed: fn -> off.() && times(call, @calls).() end
        ],
        reps: 9
      )

    on.()
    routed = runs.routed |> stats(@calls) |> then(&report("call, output routed", &1, "µs"))
    plain = runs.not_routed |> stats(@calls) |> then(&report("call, routing off", &1, "µs"))
    # The medians move with the machine by more than routing costs; the minimums (best
    # of 9 runs of 100k calls each) are steadier. Both are printed.
    cost = routed.min - plain.min

    IO.puts(
      "  routing costs #{fmt(cost * 1000)} ns a call (minimums), #{fmt((routed.median - plain.median) * 1000)} ns (medians)"
    )

    printed =
      sample(
        fn ->
          {:ok, io} = StringIO.open("")
          leader = Process.group_leader()
          Process.group_leader(self(), io)
          nil = py!("print_lines", [@lines])
          Process.group_leader(self(), leader)
          {:ok, {"", out}} = StringIO.close(io)
          true = byte_size(out) > @lines * 6
        end,
        reps: 5
      )
      |> Enum.map(&(&1 / 1000))
      |> stats()
      |> then(&report("100k print lines to the caller's group leader", &1, "ms"))

    devnull =
      sample(fn -> nil = py!("print_lines_devnull", [@lines]) end, reps: 5)
      |> Enum.map(&(&1 / 1000))
      |> stats()
      |> then(&report("100k print lines to os.devnull (Python alone)", &1, "ms"))

    awaited =
      concurrently("async_nap") |> then(&report("100 awaiting calls (0.2 s each)", &1, "ms"))

    blocking =
      concurrently("sync_nap") |> then(&report("100 sleeping calls (0.2 s each)", &1, "ms"))

    [
      row("10a output routing, per call (nothing printed; min of 9x100k)", cost * 1000, "ns",
        limit: {:<, 200},
        baseline: "call #{fmt(plain.median)} µs unrouted"
      ),
      row("10b 100k print lines to the group leader", printed.median, "ms",
        baseline: {"Python to os.devnull", devnull.median}
      ),
      row("10c 100 concurrent awaiting calls", awaited.median, "ms",
        limit: {:<, 600},
        baseline: {"100 time.sleep calls", blocking.median},
        min_speedup: 3
      )
    ]
  end

  defp concurrently(function) do
    sample(
      fn ->
        1..100
        |> Enum.map(fn _ -> Task.async(fn -> py!(function, [0.2]) end) end)
        |> Enum.each(&(0.2 = Task.await(&1, 30_000)))
      end,
      reps: 3
    )
    |> Enum.map(&(&1 / 1000))
    |> stats()
  end
end

Bench.Support.main(Bench.PythonWorld)
