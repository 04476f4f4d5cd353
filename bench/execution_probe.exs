# Run by bench/execution.exs in a fresh VM (default BEAM flags): prints one line of
# medians for this VM start. Not a benchmark on its own.
alias SnakeBridge.{Native, Runtime}

loop = fn
  _f, 0, _loop -> :ok
  f, n, loop -> f.() && loop.(f, n - 1, loop)
end

per_call = fn f, n ->
  loop.(f, n, loop)

  for(_ <- 1..7, do: elem(:timer.tc(fn -> loop.(f, n, loop) end), 0) / n)
  |> Enum.sort()
  |> Enum.at(3)
end

sqrt = fn -> {:ok, _} = SnakeBridge.call("math", "sqrt", [2.0]) end
{:ok, counter} = SnakeBridge.call("itertools", "count", [1])
next = fn -> {:ok, _} = Runtime.stream_next(counter) end
noop = fn -> Native.noop() end

call_us = per_call.(sqrt, 20_000)
next_us = per_call.(next, 20_000)
noop_us = per_call.(noop, 20_000)

idle_us =
  for(_ <- 1..5, do: Process.sleep(1_000) && elem(:timer.tc(sqrt), 0))
  |> Enum.sort()
  |> Enum.at(2)

# Fifty processes at once, 2000 calls each: calls per second for all of them.
concurrent = fn f ->
  me = self()

  pids =
    for _ <- 1..50,
        do: spawn_link(fn -> receive(do: (:go -> loop.(f, 2_000, loop))) && send(me, :done) end)

  {us, _} =
    :timer.tc(fn ->
      Enum.each(pids, &send(&1, :go))
      for _ <- pids, do: receive(do: (:done -> :ok))
    end)

  50 * 2_000 / us
end

thr = for(_ <- 1..3, do: concurrent.(sqrt)) |> Enum.sort() |> Enum.at(1)
noop_thr = for(_ <- 1..3, do: concurrent.(noop)) |> Enum.sort() |> Enum.at(1)

IO.puts(
  "PROBE call=#{call_us} next=#{next_us} noop=#{noop_us} idle=#{idle_us} thr=#{thr} noop_thr=#{noop_thr}"
)
