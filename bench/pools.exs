# 11. Worker pools over Erlang distribution (guides/pools.md), on a `peers: 2` pool started here:
#   * CPU-bound pure Python (a ~50 ms loop) from 16 processes at once, on the pool beside
#     the embedded interpreter (one GIL), in the same run;
#   * one call to a peer worker, and strict stream_next across nodes, beside a bare
#     `:erpc.call(node, :erlang, :abs, [1])` (interleaved runs of 1000 calls); the same
#     on a worker of a `spin_us: 100` pool (the embedded default, which workers had
#     before: its thread parks between remote calls and each call pays a wake-up);
#   * stream_next_batch(it, 1000) and stream/5 across nodes over range(2M) (the batch
#     also on the `spin_us: 100` worker);
#   * 100k remote refs made and dropped by 4 processes that stay alive (released by
#     garbage collection here): the worker's live Python objects of that type before
#     and after.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Pools do
  import Bench.Support

  @pool :bench_pool
  # A worker as pools had them before (spin_us: 100), measured in the same run.
  @parked :bench_pool_spin100
  @rt [__runtime__: [pool_name: @pool]]
  @calls 1_000
  @n 2_000_000

  def run do
    start_pool!()
    [a, _b] = SnakeBridge.Pool.nodes(@pool)
    on_a = [__runtime__: [pool_name: @pool, session_id: session_on(a)]]
    parked = [__runtime__: [pool_name: @parked]]

    cpu_rows() ++
      call_rows(a, on_a, parked) ++ stream_rows(on_a, parked) ++ lifetime_rows(a, on_a)
  after
    SnakeBridge.Pool.stop(@pool)
    SnakeBridge.Pool.stop(@parked)
  end

  defp start_pool! do
    unless Node.alive?() do
      {_, 0} = System.cmd("epmd", ["-daemon"])
      {:ok, _} = Node.start(:"bench_#{System.unique_integer([:positive])}", :shortnames)
    end

    :ok = SnakeBridge.Pool.start(@pool, peers: 2)
    :ok = SnakeBridge.Pool.start(@parked, peers: 1, spin_us: 100)
    :ok = SnakeBridge.Pool.ready(@pool, 60_000)
    :ok = SnakeBridge.Pool.ready(@parked, 60_000)
  end

  defp session_on(node) do
    Enum.find_value(1..1000, fn i ->
      id = "bench#{i}"
      opts = [__runtime__: [pool_name: @pool, session_id: id]]

      if SnakeBridge.Pool.node_of(SnakeBridge.call!("builtins", "object", [], opts)) == node,
        do: id
    end)
  end

  # ------------------------------------------------------------- parallelism

  @procs 16

  defp cpu_rows do
    loop = calibrate()
    code = "sum(i * i for i in range(#{loop}))"
    many = fn opts -> fn -> run_many(code, opts) end end

    runs = interleave([embedded: many.([]), pool: many.(@rt)], reps: 5)

    embedded =
      runs[:embedded] |> ms() |> then(&report("#{@procs} x 50 ms loop, embedded", &1, "ms"))

    pool = runs[:pool] |> ms() |> then(&report("#{@procs} x 50 ms loop, peers: 2", &1, "ms"))

    [
      row("11 #{@procs} x 50 ms Python loop on peers: 2", pool.median, "ms",
        baseline: {"embedded", embedded.median},
        min_speedup: 1.7
      )
    ]
  end

  # The loop length that takes about 50 ms here.
  defp calibrate do
    n = 100_000
    {us, _} = :timer.tc(fn -> SnakeBridge.eval!("sum(i * i for i in range(#{n}))") end)
    round(n * 50_000 / max(us, 1))
  end

  defp run_many(code, opts) do
    1..@procs
    |> Enum.map(fn _ -> Task.async(fn -> SnakeBridge.eval!(code, %{}, opts) end) end)
    |> Task.await_many(:infinity)
  end

  # ------------------------------------------------------------- call cost

  defp call_rows(a, on_a, parked) do
    {:ok, it} = SnakeBridge.call("itertools", "count", [], on_a)
    {:ok, parked_it} = SnakeBridge.call("itertools", "count", [], parked)
    sqrt = ["math", "sqrt", [2.0]]

    runs =
      interleave(
        [
          erpc: times(fn -> :erpc.call(a, :erlang, :abs, [1]) end, @calls),
          call: times(fn -> {:ok, _} = SnakeBridge.call("math", "sqrt", [2.0], on_a) end, @calls),
          erpc_call: times(fn -> {:ok, _} = :erpc.call(a, SnakeBridge, :call, sqrt) end, @calls),
          next: times(fn -> {:ok, _} = SnakeBridge.Runtime.stream_next(it) end, @calls),
          parked_call:
            times(fn -> {:ok, _} = SnakeBridge.call("math", "sqrt", [2.0], parked) end, @calls),
          parked_next:
            times(fn -> {:ok, _} = SnakeBridge.Runtime.stream_next(parked_it) end, @calls)
        ],
        reps: 15,
        shuffle: true
      )

    erpc =
      runs[:erpc]
      |> stats(@calls)
      |> then(&report(":erpc.call(node, :erlang, :abs, [1])", &1, "µs"))

    call = runs[:call] |> stats(@calls) |> then(&report("call math.sqrt on a peer", &1, "µs"))

    next =
      runs[:next] |> stats(@calls) |> then(&report("strict stream_next across nodes", &1, "µs"))

    # What the worker's own call costs when it comes over the network: the same call
    # made by a bare :erpc.call of SnakeBridge.call on the worker (no pool routing).
    erpc_call =
      runs[:erpc_call]
      |> stats(@calls)
      |> then(&report(":erpc.call(node, SnakeBridge, :call, sqrt)", &1, "µs"))

    parked_call =
      runs[:parked_call]
      |> stats(@calls)
      |> then(&report("call math.sqrt on a spin_us: 100 peer", &1, "µs"))

    parked_next =
      runs[:parked_next]
      |> stats(@calls)
      |> then(&report("strict stream_next, spin_us: 100 peer", &1, "µs"))

    [
      row("11 call to a peer worker", call.median, "µs", baseline: {"erpc", erpc.median}, max: 1.5),
      row("11 (before) call to a spin_us: 100 peer", parked_call.median, "µs",
        baseline: {"erpc", erpc.median}
      ),
      row("11 the same call as :erpc of SnakeBridge.call", erpc_call.median, "µs",
        baseline: {"pool call", call.median}
      ),
      row("11 strict stream_next across nodes", next.median, "µs",
        baseline: {"erpc", erpc.median},
        max: 1.5
      ),
      row("11 (before) strict stream_next, spin_us: 100 peer", parked_next.median, "µs",
        baseline: {"erpc", erpc.median}
      )
    ]
  end

  # ------------------------------------------------------------- streams

  defp stream_rows(on_a, parked) do
    batch =
      sample(
        fn it -> drain(it, 0) end,
        setup: fn -> SnakeBridge.call!("builtins", "iter", [range(on_a)], on_a) end,
        reps: 5
      )
      |> stats(@n)
      |> then(&report("stream_next_batch(it, 1000) across nodes", &1, "µs/item"))

    parked_batch =
      sample(
        fn it -> drain(it, 0) end,
        setup: fn -> SnakeBridge.call!("builtins", "iter", [range(parked)], parked) end,
        reps: 5
      )
      |> stats(@n)
      |> then(&report("stream_next_batch(it, 1000), spin_us: 100 peer", &1, "µs/item"))

    callback =
      sample(fn -> :ok = SnakeBridge.stream("builtins", "range", [@n], on_a, fn _ -> :ok end) end,
        reps: 5
      )
      |> stats(@n)
      |> then(&report("stream/5 across nodes, no-op callback", &1, "µs/item"))

    [
      row("11 stream_next_batch(it, 1000) across nodes", rate(batch.median), "M ints/s",
        higher_better: true,
        limit: {:>=, 3}
      ),
      row(
        "11 (before) stream_next_batch, spin_us: 100 peer",
        rate(parked_batch.median),
        "M ints/s",
        higher_better: true
      ),
      row("11 stream/5 across nodes", rate(callback.median), "M ints/s",
        higher_better: true,
        limit: {:>=, 3}
      )
    ]
  end

  defp range(opts), do: SnakeBridge.call!("builtins", "range", [@n], opts)

  defp drain(it, count) do
    case SnakeBridge.Runtime.stream_next_batch(it, 1000) do
      {:ok, items} -> drain(it, count + length(items))
      {:error, :stop_iteration} -> @n = count
    end
  end

  # ------------------------------------------------------------- lifetimes

  # 100k remote refs: 1000 calls of 100 objects each, from 4 processes that stay alive
  # (so only garbage collection on this node can release them).
  defp lifetime_rows(a, on_a) do
    before = namespaces(a)
    parent = self()
    code = "[__import__('types').SimpleNamespace(i=i) for i in range(100)]"

    {us, holders} =
      :timer.tc(fn ->
        holders =
          for _ <- 1..4 do
            spawn(fn ->
              for _ <- 1..250, do: [_ | _] = SnakeBridge.eval!(code, %{}, on_a)
              :erlang.garbage_collect()
              send(parent, {:made, self()})
              receive do: (:exit -> :ok)
            end)
          end

        for h <- holders, do: receive(do: ({:made, ^h} -> h))
      end)

    IO.puts("  100k remote refs made and dropped in #{fmt(us / 1000)} ms")
    left = settle_objects(a, before, 100)
    IO.puts("  SimpleNamespace objects on the worker: before #{before}, after #{before + left}")
    Enum.each(holders, &send(&1, :exit))

    [row("11 objects left after 100k remote refs dropped", left, "objects", limit: {:<, 1})]
  end

  defp namespaces(node) do
    code =
      "sum(1 for o in __import__('gc').get_objects() if type(o).__name__ == 'SimpleNamespace')"

    :erpc.call(node, SnakeBridge, :eval!, [code])
  end

  # Releasing runs on the worker's cleanup threads: wait for it (at most ~10 s).
  defp settle_objects(node, before, 0), do: namespaces(node) - before

  defp settle_objects(node, before, tries) do
    case namespaces(node) - before do
      left when left <= 0 -> 0
      _ -> Process.sleep(100) && settle_objects(node, before, tries - 1)
    end
  end

  defp ms(times_us), do: times_us |> Enum.map(&(&1 / 1000)) |> stats()
end

Bench.Support.main(Bench.Pools)
