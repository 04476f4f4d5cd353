defmodule SnakeBridge.RobustnessTest do
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers
  alias SnakeBridge.Runtime

  setup_all do
    SnakeBridge.call!("sys", "path.insert", [0, Path.expand("support/python", __DIR__)])
    :ok
  end

  defp nest(0), do: []
  defp nest(n), do: [nest(n - 1)]

  describe "deep nesting never crashes the node" do
    test "900 levels convert both ways" do
      assert SnakeBridge.call("sb_robust", "depth_of", [nest(900)]) == {:ok, 900}
      assert {:ok, value} = SnakeBridge.call("sb_robust", "nested_list", [900])
      assert value == nest(900)
    end

    test "deeper Elixir data is refused before Python is called" do
      assert {:error, %SnakeBridge.PythonError{type: "RecursionError"}} =
               SnakeBridge.call("sb_robust", "depth_of", [nest(5_000)])

      assert SnakeBridge.call("operator", "add", [1, 2]) == {:ok, 3}
    end

    test "deeper Python data, and a list that contains itself, give an error" do
      assert {:error, %SnakeBridge.PythonError{type: "RecursionError"}} =
               SnakeBridge.call("sb_robust", "nested_list", [5_000])

      assert {:error, %SnakeBridge.PythonError{type: "RecursionError"}} =
               SnakeBridge.call("sb_robust", "cyclic_list", [])

      assert SnakeBridge.call("operator", "add", [1, 2]) == {:ok, 3}
    end

    test "Python code that recurses through C runs on a large enough stack" do
      # json.dumps and repr of 900 levels recurse in C; on a dirty scheduler's own small
      # stack this would take the node down.
      assert SnakeBridge.call("sb_robust", "json_nested", [900]) == {:ok, 1802}
      assert SnakeBridge.call("sb_robust", "repr_nested", [900]) == {:ok, 1802}

      assert :ok =
               SnakeBridge.stream("sb_robust", "json_nested", [900], [], fn n ->
                 send(self(), {:len, n})
                 :ok
               end)

      assert_received {:len, 1802}
    end

    test "JSON encoding of deep data is refused" do
      assert {:error, {:bad_argument, _}} = SnakeBridge.Wire.encode(nest(5_000))
    end
  end

  test "a dict that changes while it is converted gives an error, not a crash" do
    assert {:error, %SnakeBridge.PythonError{type: "RuntimeError", message: message}} =
             SnakeBridge.call("sb_robust", "self_mutating_dict", [])

    assert message =~ "changed size"
    assert SnakeBridge.call("operator", "add", [1, 2]) == {:ok, 3}
  end

  test "integers with more than 4300 decimal digits convert both ways" do
    big = Integer.pow(10, 5000) + 7
    assert SnakeBridge.call("sb_robust", "same", [big]) == {:ok, big}
    assert SnakeBridge.call("sb_robust", "same", [-big]) == {:ok, -big}
    {:ok, f} = SnakeBridge.call("math", "factorial", [2000])
    assert f == Enum.reduce(1..2000, 1, &(&1 * &2))
  end

  test "a module still being imported by one process is not used half-made by another" do
    dir = SnakeBridge.TestHelpers.tmp_dir!()
    name = "sb_slow_import_#{System.unique_integer([:positive])}"
    assert {:ok, true} = SnakeBridge.call("sb_robust", "slow_import_module", [dir, name, 0.3])
    SnakeBridge.call!("sys", "path.insert", [0, dir])
    SnakeBridge.call!("importlib", "invalidate_caches")

    results =
      1..4
      |> Enum.map(fn _ -> Task.async(fn -> SnakeBridge.call(name, "f") end) end)
      |> Enum.map(&Task.await(&1, 5_000))

    assert results == List.duplicate({:ok, 42}, 4)
  end

  test "a pulled-ahead item of many bignums is not copied on a normal scheduler" do
    # 3000 integers of ~8 KB each: few terms, many bytes. The fast path that serves
    # pulled-ahead items on a normal scheduler weighs items by bytes, so it declines and
    # a library thread copies the item.
    code = "iter([0, [1 << 65536] * 3000, 2])"
    {:ok, it} = SnakeBridge.call("builtins", "eval", [code], __runtime__: [stream_batch: 3])
    assert Runtime.stream_next(it) == {:ok, 0}
    assert SnakeBridge.Native.stream_next_ready(it.resource) == :python
    assert {:ok, big} = Runtime.stream_next(it)
    assert length(big) == 3000 and hd(big) == Bitwise.bsl(1, 65536)
    # A light item pulled ahead still comes from the fast path.
    assert SnakeBridge.Native.stream_next_ready(it.resource) == {:ok, 2}
  end

  # The generator counts the steps begun: once it says 1, the other process is inside
  # next(), holding the stream (this module is async: thread counts are not ours alone).
  defp inside_step?(t), do: SnakeBridge.call!("sb_robust", "steps", [t]) == 1

  @tag :timing
  test "a stream_next timeout covers waiting for a stream another process is inside" do
    t = "inside-#{System.unique_integer([:positive])}"
    {:ok, s} = SnakeBridge.call("sb_robust", "slow_gen", [2, 3.0, t])
    spawn(fn -> Runtime.stream_next(s) end)

    assert eventually(fn -> inside_step?(t) end)
    {us, result} = :timer.tc(fn -> Runtime.stream_next(s, timeout: 100) end)
    assert result == {:error, :timeout}
    # Waiting for the other step would take 3 s; the margin is for a loaded machine.
    assert us < 1_500_000, "waited #{div(us, 1000)} ms for a 100 ms timeout"
  end

  @tag :timing
  test "a call's timeout covers waiting for a stream argument another process iterates" do
    t = "arg-#{System.unique_integer([:positive])}"
    {:ok, s} = SnakeBridge.call("sb_robust", "slow_gen", [2, 3.0, t])
    me = self()
    spawn(fn -> send(me, {:item, Runtime.stream_next(s)}) end)

    assert eventually(fn -> inside_step?(t) end)
    t0 = System.monotonic_time(:millisecond)

    assert SnakeBridge.call("builtins", "list", [s], __runtime__: [timeout: 100]) ==
             {:error, :timeout}

    # Waiting for the other step would take 3 s; the margin is for a loaded machine.
    assert System.monotonic_time(:millisecond) - t0 < 1_500
    assert_receive {:item, {:ok, 0}}, 10_000
  end

  test "a huge timeout means no deadline" do
    assert SnakeBridge.call("operator", "add", [1, 2], __runtime__: [timeout: 2 ** 62]) ==
             {:ok, 3}
  end

  test "one iterator returned twice: dropping one handle does not close it for the other" do
    {:ok, gen} = SnakeBridge.call("sb_testlib", "counting_gen", [10])
    assert Runtime.stream_next(gen) == {:ok, 0}
    key = "gen-#{System.unique_integer([:positive])}"
    SnakeBridge.call!("sb_robust", "keep", [key, gen])

    # Another process gets its own handle on the same generator and drops it: its
    # garbage collection runs the handle's destructor (queuing any release) before it
    # says so.
    me = self()

    spawn(fn ->
      assert match?({:ok, _}, SnakeBridge.call("sb_robust", "kept", [key]))
      :erlang.garbage_collect()
      send(me, :collected)
    end)

    assert_receive :collected, 5_000
    # Every queued release has run (no other module can hold the queue busy for long).
    assert eventually(fn -> elem(SnakeBridge.Native.stats(), 1) == 0 end)

    assert Runtime.stream_next(gen) == {:ok, 1}
  end

  test "buffered items survive a call that fails to convert its arguments" do
    {:ok, gen} = SnakeBridge.call("sb_robust", "same", [[]])
    assert gen == []

    {:ok, s} =
      SnakeBridge.call("builtins", "iter", [[1, 2, 3, 4, 5]], __runtime__: [stream_batch: 3])

    assert Runtime.stream_next(s) == {:ok, 1}

    assert {:error, %SnakeBridge.ConversionError{}} =
             SnakeBridge.call("builtins", "print", [s, make_ref()])

    assert Enum.to_list(s) == [2, 3, 4, 5]
  end

  test "large items pulled ahead are still delivered whole and in order" do
    {:ok, s} =
      SnakeBridge.call("sb_robust", "big_items", [4, 10_000], __runtime__: [stream_batch: 4])

    for i <- 0..3 do
      assert {:ok, item} = Runtime.stream_next(s)
      assert length(item) == 10_000 and hd(item) == i
    end

    assert Runtime.stream_next(s) == {:error, :stop_iteration}
  end

  test "a deadline on a batched stream does not kill it during read-ahead" do
    {:ok, s} =
      SnakeBridge.call("sb_robust", "slow_gen", [6, 0.05], __runtime__: [stream_batch: 10])

    assert Runtime.stream_next(s, timeout: 200) == {:ok, 0}
    assert Enum.to_list(s) == [1, 2, 3, 4, 5]
  end
end
