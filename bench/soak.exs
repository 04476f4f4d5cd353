# A soak: for SOAK_SECONDS (300 by default) many processes at once make calls, drain
# shared streams, run stream/5, time out, get killed mid-call, fork from Python and drop
# objects with finalizers. Every delivered item is checked (none lost, none twice), and
# the BEAM's RSS, its OS threads and Python's live objects are sampled: after the load
# they must be back near where they started.
#
#   mix run bench/soak.exs                # 5 minutes
#   SOAK_SECONDS=30 mix run bench/soak.exs
Code.require_file("support.exs", __DIR__)

defmodule Bench.Soak do
  import Bench.Support
  alias SnakeBridge.{Runtime, Session}

  @workers 24

  def run do
    seconds = String.to_integer(System.get_env("SOAK_SECONDS", "300"))
    :ets.new(:soak, [:named_table, :public, write_concurrency: true])

    for k <- ~w(calls streams items stream5 timeouts kills forks errors)a,
        do: :ets.insert(:soak, {k, 0})

    # Idle threads end after 2 s (10 s by default), so the end sample can see it.
    Application.put_env(:snakebridge, :thread_idle_ms, 2_000)
    Runtime.reload_config()
    settle()
    start = sample()
    IO.puts("  start: #{inspect(start)}")
    deadline = System.monotonic_time(:millisecond) + seconds * 1000

    workers =
      for i <- 1..@workers do
        Task.async(fn -> work(rem(i, 8), deadline, :rand.seed(:exsss, {i, i, i})) end)
      end

    samples = watch(deadline, [])
    Task.await_many(workers, :infinity)
    settle()
    Process.sleep(4_000)
    finish = sample()
    IO.puts("  end:   #{inspect(finish)}")

    counts = Map.new(:ets.tab2list(:soak))
    IO.puts("  work done: #{inspect(counts)}")
    peak_rss = Enum.max([start.rss | Enum.map(samples, & &1.rss)])
    peak_threads = Enum.max([start.threads | Enum.map(samples, & &1.threads)])

    [
      row("9 soak: items lost or delivered twice", counts.errors * 1.0, "items", limit: {:<, 1}),
      row("9 soak: RSS growth after the load", finish.rss - start.rss, "MB",
        baseline: {"peak during the load", peak_rss},
        limit: {:<, 50}
      ),
      row("9 soak: OS threads after the load", finish.threads * 1.0, "threads",
        baseline: {"start #{start.threads}, peak", peak_threads * 1.0},
        limit: {:<, start.threads + 12}
      ),
      row("9 soak: Python objects, change", pct(finish.objects, start.objects), "%",
        baseline: "start #{start.objects}, end #{finish.objects}",
        limit: {:<, 2}
      ),
      row("9 soak: calls made", counts.calls * 1.0, "calls", baseline: "in #{seconds} s")
    ]
  end

  defp pct(a, b), do: abs(a - b) / b * 100

  defp sample do
    %{
      rss: rss_mb(),
      threads: length(File.ls!("/proc/self/task")),
      objects: py!("live_objects"),
      streams: elem(SnakeBridge.Native.stats(), 0)
    }
  end

  defp watch(deadline, acc) do
    if System.monotonic_time(:millisecond) >= deadline do
      acc
    else
      Process.sleep(5_000)
      s = sample()
      IO.puts("  #{inspect(s)}")
      watch(deadline, [s | acc])
    end
  end

  defp bump(key, n \\ 1), do: :ets.update_counter(:soak, key, n)

  defp work(kind, deadline, _seed) do
    if System.monotonic_time(:millisecond) < deadline do
      step(kind)
      work(kind, deadline, nil)
    end
  end

  # Plain calls, some with options.
  defp step(0) do
    for _ <- 1..200, do: {:ok, _} = SnakeBridge.call("math", "sqrt", [2.0])
    {:ok, 5} = SnakeBridge.call("operator", "add", [2, 3], __runtime__: [timeout: 5_000])
    bump(:calls, 201)
  end

  # Several processes drain one generator: every item exactly once.
  defp step(1) do
    n = 2_000
    {:ok, gen} = SnakeBridge.call("sb_bench", "gen", [n])
    me = self()

    parts =
      for _ <- 1..4 do
        Task.async(fn ->
          send(me, :go)
          drain(gen, [])
        end)
      end

    got = parts |> Task.await_many(60_000) |> List.flatten() |> Enum.sort()
    if got != Enum.to_list(0..(n - 1)), do: bump(:errors, abs(length(got) - n) + 1)
    flush_go()
    bump(:streams)
    bump(:items, n)
  end

  # stream/5 to the end, and halted early.
  defp step(2) do
    ref = make_ref()

    :ok =
      SnakeBridge.stream("sb_bench", "gen", [5_000], [], fn x ->
        send(self(), {ref, x})
        :ok
      end)

    got = for _ <- 1..5_000, do: receive(do: ({^ref, x} -> x))
    if got != Enum.to_list(0..4_999), do: bump(:errors)

    :ok =
      SnakeBridge.stream("sb_bench", "gen", [100_000], [], fn x ->
        if x < 10, do: :ok, else: :halt
      end)

    bump(:stream5, 2)
  end

  # Timeouts of calls, stream_next and stream/5.
  defp step(3) do
    {:error, :timeout} =
      SnakeBridge.call("sb_bench", "spin_until_stopped", ["soak"], __runtime__: [timeout: 20])

    {:ok, gen} = SnakeBridge.call("sb_bench", "gen", [10])
    {:ok, 0} = Runtime.stream_next(gen, timeout: 1_000)

    {:error, :timeout} =
      SnakeBridge.stream(
        "sb_bench",
        "gen",
        [10_000_000],
        [__runtime__: [stream_timeout: 30]],
        fn _ ->
          :ok
        end
      )

    bump(:timeouts, 3)
  end

  # Callers killed mid-call.
  defp step(4) do
    pid = spawn(fn -> SnakeBridge.call("sb_bench", "spin_until_stopped", ["soak-kill"]) end)
    Process.sleep(5)
    Process.exit(pid, :kill)
    bump(:kills)
  end

  # A thread-affine session with refs, released.
  defp step(5) do
    {:ok, s} = Session.start(affinity: :thread)
    rt = [__runtime__: [session_id: s]]
    {:ok, gen} = SnakeBridge.call("sb_bench", "gen", [100], rt)
    [0, 1, 2] = Enum.take(gen, 3)
    :ok = Session.release(s)
    {:error, :released} = Runtime.stream_next(gen)
    bump(:calls, 2)
  end

  # Python forks (multiprocessing spawns; a forked child exits at once).
  defp step(6) do
    {:ok, 0} = SnakeBridge.call("sb_bench", "fork_and_wait", [])
    bump(:forks)
    Process.sleep(50)
  end

  # Objects with finalizers dropped by short-lived processes.
  defp step(7) do
    Task.async(fn ->
      {:ok, refs} = SnakeBridge.call("sb_bench", "finalized", [200])
      length(refs)
    end)
    |> Task.await()

    bump(:calls)
  end

  defp drain(gen, acc) do
    case Runtime.stream_next(gen) do
      {:ok, x} -> drain(gen, [x | acc])
      {:error, :stop_iteration} -> acc
    end
  end

  defp flush_go do
    receive do
      :go -> flush_go()
    after
      0 -> :ok
    end
  end
end

Bench.Support.main(Bench.Soak)
