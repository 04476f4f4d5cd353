# 8. Where Python runs (library threads): per-call latency in 5 fresh VM starts, a call
# after 1 s idle and 50 processes at once, beside (c) an empty dirty NIF and (b) the port;
# the node's own I/O while 100 Python calls sleep or compute; how fast a dead caller's
# Python code stops.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Execution do
  import Bench.Support

  @starts 5

  def run do
    starts = for i <- 1..@starts, do: probe(i)
    port = port_baseline()
    per_start_rows(starts, port) ++ io_rows() ++ [caller_death_row()]
  end

  # ------------------------------------------------------------------ fresh VMs

  defp probe(i) do
    script = Path.join(__DIR__, "execution_probe.exs")

    {out, 0} =
      System.cmd("mix", ["run", "--no-compile", script],
        env: [{"ELIXIR_ERL_OPTIONS", ""}],
        stderr_to_stdout: true
      )

    [line] = for l <- String.split(out, "\n"), String.starts_with?(l, "PROBE "), do: l

    values =
      for kv <- tl(String.split(line)), into: %{} do
        [k, v] = String.split(kv, "=")
        {String.to_atom(k), elem(Float.parse(v), 0)}
      end

    IO.puts("  VM start #{i}: #{line}")
    values
  end

  defp port_baseline do
    port = port_open()

    times =
      sample(times(fn -> %{"ok" => _} = port_request(port, ~s({"op":"sqrt","x":2.0})) end, 2_000))

    port_close(port)
    stats(times, 2_000).median
  end

  defp per_start_rows(starts, port) do
    rows =
      for {s, i} <- Enum.with_index(starts, 1) do
        [
          row("8 call math.sqrt, VM start #{i}", s.call, "us/call",
            baseline: {"(c) dirty noop", s.noop},
            limit: {:<, 3.01}
          ),
          row("8 strict stream_next, VM start #{i}", s.next, "us/item",
            baseline: {"(c) dirty noop", s.noop},
            limit: {:<, 3.01}
          )
        ]
      end

    good = fn key -> Enum.count(starts, &(&1[key] <= 3.0)) end
    idle = starts |> Enum.map(& &1.idle) |> Enum.sort() |> Enum.at(div(@starts, 2))
    thr = starts |> Enum.map(& &1.thr) |> Enum.sort() |> Enum.at(div(@starts, 2))
    noop_thr = starts |> Enum.map(& &1.noop_thr) |> Enum.sort() |> Enum.at(div(@starts, 2))
    call_med = starts |> Enum.map(& &1.call) |> Enum.sort() |> Enum.at(div(@starts, 2))

    List.flatten(rows) ++
      [
        row("8 VM starts with call <= 3 us", good.(:call), "of #{@starts}", limit: {:>=, 4}),
        row("8 VM starts with stream_next <= 3 us", good.(:next), "of #{@starts}", limit: {:>=, 4}),
        row("8 call math.sqrt (median of starts)", call_med, "us/call",
          baseline: {"(b) port", port},
          speedup: true
        ),
        row("8 call after 1 s idle (median of starts)", idle * 1.0, "us", limit: {:<, 50}),
        row("8 call math.sqrt, 50 procs, throughput", thr, "M calls/s",
          higher_better: true,
          baseline: {"(c) dirty noop, 50 procs", noop_thr},
          limit: {:>=, 0.2}
        )
      ]
  end

  # ------------------------------------------------------------------ I/O under load

  defp io_rows do
    dir = Path.join(System.tmp_dir!(), "sb_bench_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    file = Path.join(dir, "small")
    File.write!(file, "hello")
    {:ok, listen} = :gen_tcp.listen(0, [:binary, active: false, ip: {127, 0, 0, 1}])
    {:ok, port} = :inet.port(listen)

    read = fn -> tc(fn -> "hello" = File.read!(file) end) / 1000 end

    tcp = fn ->
      tc(fn ->
        {:ok, c} = :gen_tcp.connect({127, 0, 0, 1}, port, [:binary, active: false])
        {:ok, s} = :gen_tcp.accept(listen, 1_000)
        :gen_tcp.close(c)
        :gen_tcp.close(s)
      end) / 1000
    end

    idle_read = median(for _ <- 1..20, do: read.())
    idle_tcp = median(for _ <- 1..20, do: tcp.())
    # The same gap probe with no Python work, for as long as the loaded run takes: this
    # VM shows gaps of several ms with nothing running.
    idle_ticker = start_ticker()
    Process.sleep(8_000)
    idle_gap = stop_ticker(idle_ticker)

    # Default settings: 8 threads run Python, the other calls queue.
    ticker = start_ticker()

    tasks =
      for(_ <- 1..50, do: Task.async(fn -> py!("sleep", [1]) end)) ++
        for _ <- 1..50, do: Task.async(fn -> py!("cpu", [300_000]) end)

    wait_busy(8)
    # Spread over the busy period: the worst of 10 reads and connects.
    loaded =
      for _ <- 1..10 do
        r = read.()
        t = tcp.()
        Process.sleep(50)
        {r, t}
      end

    Task.await_many(tasks, 120_000)
    gap = stop_ticker(ticker)
    :gen_tcp.close(listen)
    File.rm_rf!(dir)

    worst_read = loaded |> Enum.map(&elem(&1, 0)) |> Enum.max()
    worst_tcp = loaded |> Enum.map(&elem(&1, 1)) |> Enum.max()
    IO.puts("  under load: reads #{inspect(Enum.map(loaded, &round(elem(&1, 0) * 1000)))} us")

    [
      row("8 File.read! under 100 busy Python calls (worst of 10)", worst_read, "ms",
        baseline: {"idle", idle_read},
        limit: {:<, 20}
      ),
      row("8 loopback connect+accept under the same load (worst)", worst_tcp, "ms",
        baseline: {"idle", idle_tcp},
        limit: {:<, 20}
      ),
      row("8 longest scheduler gap under the same load", gap, "ms",
        baseline: {"no Python running", idle_gap},
        limit: {:<, 5}
      )
    ]
  end

  defp median(xs), do: xs |> Enum.sort() |> Enum.at(div(length(xs), 2))

  defp wait_busy(n) do
    unless SnakeBridge.Runtime.thread_stats().calls.busy >= n do
      Process.sleep(5)
      wait_busy(n)
    end
  end

  # One process per scheduler that asks to wake every ms and records the worst lateness.
  defp start_ticker do
    me = self()

    for s <- 1..System.schedulers_online() do
      Process.spawn(fn -> tick(me, 0) end, scheduler: s)
    end
  end

  defp tick(parent, worst) do
    t0 = System.monotonic_time(:microsecond)

    receive do
      :stop -> send(parent, {:gap, worst})
    after
      1 ->
        late = System.monotonic_time(:microsecond) - t0 - 1_000
        tick(parent, max(worst, late))
    end
  end

  defp stop_ticker(pids) do
    Enum.each(pids, &send(&1, :stop))
    Enum.max(for _ <- pids, do: receive(do: ({:gap, us} -> us))) / 1000
  end

  # ------------------------------------------------------------------ caller death

  defp caller_death_row do
    times =
      for i <- 1..10 do
        key = "death#{i}"
        pid = spawn(fn -> py!("spin_until_stopped", [key]) end)
        wait_running()
        killed = py!("now", [])
        Process.exit(pid, :kill)
        stopped = wait_stopped(key)
        (stopped - killed) * 1000
      end

    row("8 killed caller: its Python stopped after (median of 10)", median(times), "ms",
      limit: {:<, 100}
    )
  end

  defp wait_running do
    unless SnakeBridge.Runtime.thread_stats().calls.busy >= 1 do
      Process.sleep(1)
      wait_running()
    end

    Process.sleep(20)
  end

  defp wait_stopped(key) do
    case py!("stopped_at", [key]) do
      nil -> wait_stopped(key)
      t -> t
    end
  end
end

Bench.Support.main(Bench.Execution)
