defmodule SnakeBridge.ConcurrencyTest do
  # Not async: these tests measure wall-clock time and scheduler pauses.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers

  alias SnakeBridge.Ref

  @lib "sb_foundation"

  defp now, do: System.monotonic_time(:millisecond)

  # Starts `sb_testlib.busy(seconds)` (pure Python, holding the GIL) and returns once a
  # library thread runs it (this module runs alone: that thread is the task's).
  defp busy_python(seconds) do
    task = Task.async(fn -> SnakeBridge.call("sb_testlib", "busy", [seconds]) end)
    assert eventually(fn -> SnakeBridge.Runtime.thread_stats().calls.busy >= 1 end)
    task
  end

  # Runs a loop of small work for `ms` milliseconds and returns the largest gap seen
  # between two consecutive iterations, in milliseconds.
  defp max_gap(ms, work) do
    t0 = System.monotonic_time(:microsecond)
    gap_loop(t0, t0 + ms * 1000, 0, work, 0)
  end

  defp gap_loop(last, stop, max, work, n) do
    work.()
    t = System.monotonic_time(:microsecond)
    max = max(max, t - last)
    if t >= stop, do: {div(max, 1000), n}, else: gap_loop(t, stop, max, work, n + 1)
  end

  @tag :timing
  test "ten concurrent time.sleep(0.3) calls overlap" do
    # warm up: import time, wake the dirty schedulers
    assert SnakeBridge.call("time", "sleep", [0.0]) == {:ok, nil}
    start = now()

    results =
      1..10
      |> Enum.map(fn _ -> Task.async(fn -> SnakeBridge.call("time", "sleep", [0.3]) end) end)
      |> Task.await_many(10_000)

    elapsed = now() - start
    assert results == List.duplicate({:ok, nil}, 10)
    assert elapsed >= 300
    # One after another they take 3 s; the margin is for a loaded machine.
    assert elapsed < 1_500, "ten 0.3 s sleeps took #{elapsed} ms: they did not run concurrently"
  end

  @tag :timing
  test "a normal scheduler never pauses while Python burns CPU" do
    # Python holds the GIL in pure-Python code (sb_testlib.busy) for 5 s: longer than the
    # 1.8 s of windows below even when a loaded machine slows them down.
    task = busy_python(5.0)

    # Meanwhile: one process ticks with :timer.sleep(1), another does small work in a
    # tight loop; each records the longest gap between two iterations, in three windows
    # of 0.6 s. A scheduler stuck behind the GIL would show a gap of most of a window in
    # every window; the smallest of the three ignores a one-off OS hiccup, and 200 ms is
    # the margin for a loaded machine.
    ticker = Task.async(fn -> for _ <- 1..3, do: max_gap(600, fn -> :timer.sleep(1) end) end)

    windows =
      for _ <- 1..3, do: max_gap(600, fn -> Enum.sum(1..50) + :erlang.monotonic_time() end)

    ticks = Task.await(ticker, 5_000)

    # Python was busy the whole time.
    assert Task.yield(task, 0) == nil

    assert Enum.all?(windows, fn {_gap, iterations} -> iterations > 1000 end)
    gaps = Enum.map(windows, &elem(&1, 0))
    assert Enum.min(gaps) < 200, "a normal scheduler paused: longest gaps #{inspect(gaps)} ms"
    tick_gaps = Enum.map(ticks, &elem(&1, 0))
    assert Enum.min(tick_gaps) < 200, "a sleeping process woke late: #{inspect(tick_gaps)} ms"

    assert {:ok, n} = Task.await(task, 10_000)
    assert is_integer(n) and n > 0
  end

  @tag :timing
  test "NIFs that need no Python answer at once while the GIL is held" do
    task = busy_python(2.0)

    {us, {streams, waiting}} = :timer.tc(fn -> SnakeBridge.Native.stats() end)
    assert is_integer(streams) and is_integer(waiting)
    # Waiting for the GIL would take most of the 2 s; the margin is for a loaded machine.
    assert us < 500_000, "stats/0 took #{us} µs while Python was busy"

    {:ok, _} = Task.await(task, 5_000)
  end

  @tag :timing
  test "dropping Refs while the GIL is held blocks no scheduler" do
    tag = "conc-#{System.unique_integer([:positive])}"
    parent = self()

    holders =
      for _ <- 1..50 do
        spawn(fn ->
          refs = SnakeBridge.call!(@lib, "make_probes", [tag, 20])
          send(parent, {:ready, self()})

          receive do
            :drop -> send(parent, {:dropping, self(), length(refs)})
          end
        end)
      end

    for pid <- holders, do: assert_receive({:ready, ^pid}, 10_000)
    assert SnakeBridge.call!(@lib, "count", [tag]) == 1000

    task = busy_python(2.0)

    # Every holder exits (its Refs' destructors run) while Python is busy.
    refs = for pid <- holders, do: Process.monitor(pid)
    start = now()
    for pid <- holders, do: send(pid, :drop)

    for ref <- refs, do: assert_receive({:DOWN, ^ref, :process, _, :normal}, 2_000)
    elapsed = now() - start
    # Destructors waiting for the GIL would take most of the 2 s (margin for a loaded machine).
    assert elapsed < 1_000, "processes holding Refs took #{elapsed} ms to exit"

    {:ok, _} = Task.await(task, 5_000)
    # and the objects are released once Python is free
    assert eventually(fn -> SnakeBridge.call!(@lib, "count", [tag]) == 0 end),
           "objects were not released"
  end

  test "fifty processes calling at once all get their own answers" do
    results =
      1..50
      |> Enum.map(fn i ->
        Task.async(fn ->
          for j <- 1..20 do
            {i, j, SnakeBridge.call("operator", "mul", [i, j * 1_000_003])}
          end
        end)
      end)
      |> Task.await_many(30_000)
      |> List.flatten()

    assert length(results) == 1000

    for {i, j, result} <- results do
      assert result == {:ok, i * j * 1_000_003}
    end
  end

  test "concurrent calls on one Ref are serialized by Python correctly" do
    dq = SnakeBridge.call!("collections", "deque", [])

    1..20
    |> Enum.map(fn i ->
      Task.async(fn -> for j <- 1..50, do: {:ok, nil} = Ref.method(dq, "append", [{i, j}]) end)
    end)
    |> Task.await_many(30_000)

    assert SnakeBridge.call("builtins", "len", [dq]) == {:ok, 1000}
    items = Enum.to_list(dq)
    assert MapSet.new(items) == MapSet.new(for i <- 1..20, j <- 1..50, do: {i, j})
  end
end
