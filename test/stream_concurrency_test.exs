defmodule SnakeBridge.StreamConcurrencyTest do
  # One StreamRef shared by many processes: every item goes to exactly one of them.
  use ExUnit.Case, async: false

  alias SnakeBridge.{Runtime, StreamRef}

  setup do
    {:ok, true} = SnakeBridge.call("sb_testlib", "reset")
    :ok
  end

  defp drain(ref, acc \\ []) do
    case Runtime.stream_next(ref) do
      {:ok, item} -> drain(ref, [item | acc])
      {:error, :stop_iteration} -> {:done, Enum.reverse(acc)}
      {:error, other} -> {:failed, other, Enum.reverse(acc)}
    end
  end

  defp drain_in_parallel(ref, n) do
    1..n
    |> Enum.map(fn _ -> Task.async(fn -> drain(ref) end) end)
    |> Task.await_many(60_000)
  end

  test "20 processes draining one generator get every item exactly once" do
    {:ok, %StreamRef{} = ref} = SnakeBridge.call("sb_testlib", "counting_gen", [2000])

    results = drain_in_parallel(ref, 20)

    assert Enum.all?(results, &match?({:done, _}, &1)),
           inspect(Enum.reject(results, &match?({:done, _}, &1)))

    lists = Enum.map(results, fn {:done, items} -> items end)
    all = Enum.concat(lists)

    assert length(all) == 2000
    assert Enum.sort(all) == Enum.to_list(0..1999)
    # each process saw its items in order
    assert Enum.all?(lists, &(&1 == Enum.sort(&1)))
    assert SnakeBridge.call("sb_testlib", "get", ["produced"]) == {:ok, 2000}
    assert Runtime.stream_next(ref) == {:error, :stop_iteration}
  end

  test "20 processes on one plain iterator" do
    {:ok, ref} = SnakeBridge.call("builtins", "iter", [Enum.to_list(1..1000)])
    all = ref |> drain_in_parallel(20) |> Enum.flat_map(fn {:done, items} -> items end)
    assert Enum.sort(all) == Enum.to_list(1..1000)
  end

  test "20 processes on one batched stream" do
    {:ok, ref} =
      SnakeBridge.call("sb_testlib", "counting_gen", [2000], __runtime__: [stream_batch: 64])

    all = ref |> drain_in_parallel(20) |> Enum.flat_map(fn {:done, items} -> items end)
    assert Enum.sort(all) == Enum.to_list(0..1999)
  end

  test "20 processes on one async generator" do
    {:ok, ref} = SnakeBridge.call("sb_testlib", "make_agen", [300])
    results = drain_in_parallel(ref, 20)
    assert Enum.all?(results, &match?({:done, _}, &1)), inspect(results, limit: 5)
    all = Enum.flat_map(results, fn {:done, items} -> items end)
    assert Enum.sort(all) == Enum.to_list(0..299)
  end

  test "Enum functions in several processes share the iterator" do
    {:ok, ref} = SnakeBridge.call("sb_testlib", "counting_gen", [1000])

    all =
      1..10
      |> Enum.map(fn _ -> Task.async(fn -> Enum.to_list(ref) end) end)
      |> Task.await_many(60_000)
      |> Enum.concat()

    assert Enum.sort(all) == Enum.to_list(0..999)
  end

  test "a process killed mid-stream: no item twice, nobody hangs" do
    # Each item takes 2 ms in Python, so the killed process is likely inside a call.
    {:ok, ref} = SnakeBridge.call("sb_testlib", "slow_gen", [300, 0.002])
    parent = self()

    victim =
      spawn(fn ->
        Stream.repeatedly(fn -> Runtime.stream_next(ref) end)
        |> Enum.each(fn
          {:ok, item} -> send(parent, {:victim_item, item})
          _ -> :ok
        end)
      end)

    workers = for _ <- 1..5, do: Task.async(fn -> drain(ref) end)

    # Killed once it is iterating (it has had an item), wherever it is then.
    assert_receive {:victim_item, first}, 5_000
    Process.exit(victim, :kill)

    results = Task.await_many(workers, 60_000)
    victim_items = collect_victim_items([first])

    worker_items =
      Enum.flat_map(results, fn
        {:done, items} -> items
        {:failed, :stopped, items} -> items
      end)

    all = worker_items ++ victim_items
    assert length(Enum.uniq(all)) == length(all), "an item was delivered twice"
    assert MapSet.subset?(MapSet.new(all), MapSet.new(0..299))

    if Enum.all?(results, &match?({:done, _}, &1)) do
      # Killed between two next() calls: every item but the one in flight arrived.
      assert length(all) in 299..300
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}
    else
      # Killed inside next(): its step was stopped, which ended the shared generator
      # (the caller's death cancels its Python work); everyone is told so.
      assert Runtime.stream_next(ref) == {:error, :stopped}
    end
  end

  test "a killed process does not leave the stream locked" do
    {:ok, ref} = SnakeBridge.call("sb_testlib", "slow_gen", [20, 0.05])
    test = self()

    pid =
      spawn(fn ->
        {:ok, first} = Runtime.stream_next(ref)
        send(test, {:first, first})
        drain(ref)
      end)

    assert_receive {:first, 0}, 5_000
    # Killed inside (or between) next() calls: its next() is stopped, which ends the
    # generator; what is left is delivered to the next process, and nothing hangs.
    Process.exit(pid, :kill)

    task = Task.async(fn -> drain(ref) end)

    case Task.await(task, 10_000) do
      # Killed between two next() calls: the rest is delivered.
      {:done, items} -> assert items == [] or items == Enum.to_list(hd(items)..19)
      # Killed inside next(): the generator was stopped, and the stream says so.
      {:failed, :stopped, []} -> :ok
    end
  end

  defp collect_victim_items(acc) do
    receive do
      {:victim_item, i} -> collect_victim_items([i | acc])
    after
      0 -> acc
    end
  end
end
