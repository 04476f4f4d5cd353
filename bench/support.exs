defmodule Bench.Support do
  @moduledoc false
  # Shared by every bench/*.exs: timing (:timer.tc with warm-up, median and min), the
  # result table, the Python helper module, baseline (b) over a port, and memory probes.
  #
  # A script defines a module with run/0 returning rows and ends with
  # `Bench.Support.main(ThatModule)`: run alone it prints its own table; loaded by
  # all.exs (which sets the :bench_all flag first) it only defines the module.

  @dir __DIR__
  @helper "sb_bench"

  # ------------------------------------------------------------------ timing

  @doc "Microseconds `fun` takes."
  def tc(fun) do
    {us, _} = :timer.tc(fun)
    us
  end

  @doc """
  Runs `fun` `warmup` (1) times untimed, then `reps` (7) times timed; returns the µs of each
  timed run. `setup:` (optional) makes the argument of each run, outside the timing;
  `fresh_process: true` times each run in a new process (a clean heap, as a request
  handler would have), the spawn not included.
  """
  def sample(fun, opts \\ []) do
    reps = Keyword.get(opts, :reps, 7)
    warmup = Keyword.get(opts, :warmup, 1)
    setup = Keyword.get(opts, :setup)

    timed =
      if Keyword.get(opts, :fresh_process, false),
        do: &in_process(fn -> tc(&1) end),
        else: &tc/1

    run = fn ->
      arg = setup && setup.()
      timed.(if setup, do: fn -> fun.(arg) end, else: fun)
    end

    for _ <- 1..warmup//1, do: run.()
    for _ <- 1..reps, do: run.()
  end

  @doc """
  Like `sample/2` for several `{name, fun}` at once, interleaved (one run of each in
  turn), so slow drifts of the machine hit them alike. Returns `%{name => [µs]}`.
  With `self_timed: true` each function returns the µs it measured itself.
  """
  def interleave(named, opts \\ []) do
    reps = Keyword.get(opts, :reps, 7)
    warmup = Keyword.get(opts, :warmup, 1)
    for _ <- 1..warmup//1, {_, f} <- named, do: f.()

    # `self_timed: true`: each function returns its own µs (it times only part of itself).
    time = if Keyword.get(opts, :self_timed, false), do: & &1.(), else: &tc/1
    # `shuffle: true`: each rep in another order (the same in every run), so no function
    # always runs right after the same other one (what ran before can change its times).
    shuffle = Keyword.get(opts, :shuffle, false)
    if shuffle, do: :rand.seed(:exsss, {1, 2, 3})
    order = fn -> if shuffle, do: Enum.shuffle(named), else: named end
    runs = for _ <- 1..reps, {name, f} <- order.(), do: {name, time.(f)}
    Enum.group_by(runs, &elem(&1, 0), &elem(&1, 1))
  end

  @doc "A loop of `n` calls of `fun` (for timing per call)."
  def times(fun, n), do: fn -> loop(fun, n) end

  defp loop(_fun, 0), do: :ok

  defp loop(fun, n) do
    fun.()
    loop(fun, n - 1)
  end

  @doc "Median and min of `times_us`, each divided by `per` (items or calls per run)."
  def stats(times_us, per \\ 1) do
    sorted = Enum.sort(times_us)
    n = length(sorted)

    median =
      if rem(n, 2) == 1,
        do: Enum.at(sorted, div(n, 2)),
        else: (Enum.at(sorted, div(n, 2) - 1) + Enum.at(sorted, div(n, 2))) / 2

    %{median: median / per, min: hd(sorted) / per, reps: n, per: per}
  end

  @doc "Prints one detail line: median and min of a measurement."
  def report(label, %{median: med, min: min, reps: reps, per: per} = st, unit) do
    IO.puts(
      "  #{String.pad_trailing(label, 50)} median #{fmt(med)} #{unit}  min #{fmt(min)} #{unit}" <>
        "  (#{reps} runs x #{per})"
    )

    st
  end

  @doc "Millions of items per second from a per-item time in µs."
  def rate(us_per_item), do: 1 / us_per_item

  @doc "Runs `fun` in a fresh process (a clean heap) and returns its result."
  def in_process(fun) do
    task = Task.async(fun)
    Task.await(task, :infinity)
  end

  def fmt(x) when is_integer(x), do: Integer.to_string(x)

  def fmt(x) when is_float(x) do
    decimals =
      cond do
        abs(x) >= 100 -> 1
        abs(x) >= 1 -> 2
        true -> 3
      end

    :erlang.float_to_binary(x, decimals: decimals)
  end

  # ------------------------------------------------------------------ rows

  @doc """
  A row of the table. `value` is a time or a size (lower is better) unless
  `higher_better: true` (a rate). With `baseline: {label, value}` and `max:`, the row
  passes when value is at most `max` times the baseline ("2.1x"); with `min_speedup:`,
  when the baseline is at least that many times the value ("48x faster"; `speedup:
  true` shows a ratio that way with no target). `limit:`
  compares the value itself (`{:<, 40}` or `{:>=, 15}`). Rows with no target are info.
  A string `baseline:` is only shown.
  """
  def row(name, value, unit, opts \\ []) do
    higher = Keyword.get(opts, :higher_better, false)
    baseline = opts[:baseline]

    {ratio, ratio_pass, ratio_target} =
      case {baseline, opts[:max], opts[:min_speedup]} do
        {b, _, _} when b == nil or is_binary(b) ->
          {"", nil, nil}

        {{_, b}, nil, nil} ->
          r = if higher, do: b / value, else: value / b

          if opts[:speedup],
            do: {"#{fmt(1 / r)}x faster", nil, nil},
            else: {"#{fmt(r)}x", nil, nil}

        {{_, b}, max, nil} ->
          r = if higher, do: b / value, else: value / b
          {"#{fmt(r)}x", max && r <= max, max && "<=#{fmt_num(max)}x base"}

        {{_, b}, nil, min} ->
          r = if higher, do: value / b, else: b / value
          {"#{fmt(r)}x faster", r >= min, ">=#{fmt_num(min)}x faster"}
      end

    {limit_pass, limit_target} =
      case opts[:limit] do
        nil -> {nil, nil}
        {:<, l} -> {value < l, "<#{fmt_num(l)} #{unit}"}
        {:>=, l} -> {value >= l, ">=#{fmt_num(l)} #{unit}"}
      end

    checks = Enum.reject([ratio_pass, limit_pass], &is_nil/1)

    %{
      name: name,
      value: fmt(value * 1.0),
      unit: unit,
      baseline: baseline_text(baseline, unit),
      ratio: ratio,
      target: [limit_target, ratio_target] |> Enum.reject(&is_nil/1) |> Enum.join(", "),
      pass:
        cond do
          checks == [] -> "info"
          Enum.all?(checks) -> "pass"
          true -> "MISS"
        end
    }
  end

  defp baseline_text(nil, _), do: ""
  defp baseline_text(text, _) when is_binary(text), do: text
  defp baseline_text({label, b}, unit), do: "#{label} #{fmt(b * 1.0)} #{unit}"

  defp fmt_num(x) when is_integer(x), do: Integer.to_string(x)
  defp fmt_num(x), do: fmt(x)

  @columns [
    name: "measurement",
    value: "value",
    unit: "unit",
    baseline: "baseline",
    ratio: "ratio",
    target: "target",
    pass: "pass/miss"
  ]

  def print_table(rows) do
    widths =
      for {k, title} <- @columns,
          into: %{},
          do: {k, Enum.max([String.length(title) | Enum.map(rows, &String.length(&1[k]))])}

    line = fn cells ->
      @columns
      |> Enum.map(fn {k, _} ->
        pad = if k == :value, do: &String.pad_leading/2, else: &String.pad_trailing/2
        pad.(cells[k], widths[k])
      end)
      |> Enum.join(" | ")
      |> String.trim_trailing()
    end

    IO.puts("")
    IO.puts(line.(Map.new(@columns)))

    IO.puts(
      @columns
      |> Enum.map(fn {k, _} -> String.duplicate("-", widths[k]) end)
      |> Enum.join("-|-")
    )

    Enum.each(rows, &IO.puts(line.(&1)))
    misses = Enum.count(rows, &(&1.pass == "MISS"))
    checked = Enum.count(rows, &(&1.pass != "info"))

    IO.puts(
      "\n#{checked - misses}/#{checked} targets met#{if misses > 0, do: ", #{misses} missed", else: ""}"
    )
  end

  # ------------------------------------------------------------------ running

  @doc "What the run was made with (flags matter: see bench/README.md)."
  def header do
    flags = System.get_env("ELIXIR_ERL_OPTIONS") || "(default BEAM flags)"

    IO.puts("""
    SnakeBridge benchmarks - ELIXIR_ERL_OPTIONS: #{flags}
      OTP #{System.otp_release()}, Elixir #{System.version()}, #{System.schedulers_online()} schedulers, \
    #{:erlang.system_info(:dirty_io_schedulers)} dirty IO, \
    #{:erlang.system_info(:dirty_cpu_schedulers_online)} dirty CPU; Python #{SnakeBridge.Native.build_python()}
    """)
  end

  @doc "Runs `mod.run/0` and prints its table, unless all.exs is loading the script."
  def main(mod) do
    unless :persistent_term.get(:bench_all, false) do
      header()
      setup!()
      mod |> section() |> print_table()
    end
  end

  @doc "Runs one bench module, printing its details; returns its rows."
  def section(mod) do
    IO.puts("#{inspect(mod)}")
    {us, rows} = :timer.tc(&mod.run/0)
    IO.puts("  (#{fmt(us / 1_000_000)} s)\n")
    rows
  end

  # ------------------------------------------------------------------ Python

  @doc "Puts bench/python on sys.path (once) and imports the helper module."
  def setup! do
    dir = Path.join(@dir, "python")
    {:ok, path} = SnakeBridge.call("sys", "path.__contains__", [dir])
    unless path, do: {:ok, nil} = SnakeBridge.call("sys", "path.insert", [0, dir])
    {:ok, _} = SnakeBridge.call("importlib", "import_module", [@helper])
    :ok
  end

  @doc "Calls a function of bench/python/sb_bench.py."
  def py!(function, args \\ [], opts \\ []), do: SnakeBridge.call!(@helper, function, args, opts)

  @doc "A fresh StreamRef over iter(range(n)) (with `opts` such as __runtime__)."
  def range_iter(n, opts \\ []) do
    range = SnakeBridge.call!("builtins", "range", [n])
    SnakeBridge.call!("builtins", "iter", [range], opts)
  end

  @doc "µs CPython's own loop takes over `n` items of range (`:range`) or a generator."
  def python_loop(kind, n, reps \\ 7) do
    fun = if kind == :range, do: "consume_range", else: "consume_gen"
    _ = py!(fun, [n])
    for _ <- 1..reps, do: py!(fun, [n]) * 1_000_000
  end

  # ------------------------------------------------------------------ baseline (b)

  @doc "A Python subprocess speaking JSON lines (bench/port_worker.py)."
  def port_open do
    Port.open({:spawn_executable, SnakeBridge.Native.build_python()}, [
      :binary,
      {:line, 65_536},
      :use_stdio,
      :exit_status,
      args: ["-u", Path.join(@dir, "port_worker.py")]
    ])
  end

  @doc "One request (a JSON line) and its decoded answer."
  def port_request(port, json) do
    Port.command(port, [json, ?\n])

    receive do
      {^port, {:data, {:eol, line}}} ->
        {:ok, answer} = SnakeBridge.Wire.decode(line)
        answer

      {^port, {:exit_status, status}} ->
        raise "port worker exited with #{status}"
    end
  end

  def port_close(port) do
    Port.close(port)
    :ok
  end

  # ------------------------------------------------------------------ memory

  @doc "The BEAM's resident set size in MB, from the OS (VmRSS, or VmHWM for the peak)."
  def rss_mb(key \\ "VmRSS") do
    "/proc/#{System.pid()}/status"
    |> File.read!()
    |> String.split("\n")
    |> Enum.find_value(fn line ->
      case String.split(line) do
        [label, kb, "kB"] -> if label == key <> ":", do: String.to_integer(kb) / 1024
        _ -> nil
      end
    end)
  end

  @doc """
  Lets every dropped handle go: collects garbage in every process, waits for the
  cleanup thread to release what was queued, then for Python's gc. Returns the number
  of live Python objects (gc-tracked) afterwards.
  """
  def settle(timeout_ms \\ 30_000) do
    Enum.each(Process.list(), &:erlang.garbage_collect/1)
    deadline = System.monotonic_time(:millisecond) + timeout_ms
    wait_cleanup(deadline)
    py!("live_objects")
  end

  defp wait_cleanup(deadline) do
    case SnakeBridge.Native.stats() do
      {_live, 0} ->
        :ok

      {_live, pending} ->
        if System.monotonic_time(:millisecond) > deadline,
          do: raise("cleanup still has #{pending} objects queued"),
          else: Process.sleep(10)

        wait_cleanup(deadline)
    end
  end
end
