defmodule SnakeBridge.StreamRefNextTest do
  # StreamRef.next/2 and next_batch/3: the stepping functions, reached from StreamRef.
  use ExUnit.Case, async: true

  alias SnakeBridge.{Runtime, StreamRef}

  defp tag, do: "next-#{System.unique_integer([:positive])}"
  defp produced(tag), do: SnakeBridge.call!("sb_testlib", "tag_get", [tag, "produced"])

  test "next/2 steps a generator lazily, then reports its end on every call" do
    t = tag()
    {:ok, gen} = SnakeBridge.call("sb_testlib", "tagged_gen", [t, 2])
    assert produced(t) == 0
    assert StreamRef.next(gen) == {:ok, 0}
    assert produced(t) == 1
    assert StreamRef.next(gen, timeout: 5_000) == {:ok, 1}
    assert StreamRef.next(gen) == {:error, :stop_iteration}
    assert StreamRef.next(gen) == {:error, :stop_iteration}
    assert StreamRef.exhausted?(gen)
  end

  test "next_batch/3 pulls at most max items, and never more than asked" do
    t = tag()
    {:ok, gen} = SnakeBridge.call("sb_testlib", "tagged_gen", [t])
    assert StreamRef.next_batch(gen, 3) == {:ok, [0, 1, 2]}
    assert produced(t) == 3
    assert StreamRef.next_batch(gen, 2, timeout: 5_000) == {:ok, [3, 4]}
    assert produced(t) == 5
  end

  test "next/2, next_batch/3, Runtime's stepping and Enum share one position" do
    {:ok, it} = SnakeBridge.call("builtins", "iter", [Enum.to_list(0..9)])
    assert StreamRef.next(it) == {:ok, 0}
    assert Runtime.stream_next(it) == {:ok, 1}
    assert StreamRef.next_batch(it, 2) == {:ok, [2, 3]}
    assert Runtime.stream_next_batch(it, 2) == {:ok, [4, 5]}
    assert Enum.take(it, 2) == [6, 7]
    assert StreamRef.next_batch(it, 5) == {:ok, [8, 9]}
    assert StreamRef.next_batch(it, 5) == {:error, :stop_iteration}
  end

  test "with stream_batch, items pulled ahead come out one at a time" do
    {:ok, it} = SnakeBridge.call("builtins", "iter", [[1, 2, 3]], __runtime__: [stream_batch: 2])

    assert for(_ <- 1..4, do: StreamRef.next(it)) ==
             [{:ok, 1}, {:ok, 2}, {:ok, 3}, {:error, :stop_iteration}]
  end

  test "a Python exception is returned, not raised" do
    {:ok, gen} = SnakeBridge.call("sb_testlib", "gen_with_error", [1])
    assert StreamRef.next(gen) == {:ok, 0}

    assert {:error, %SnakeBridge.PythonError{type: "ValueError", message: "boom after 1"}} =
             StreamRef.next(gen)
  end

  test "the :timeout option stops a step that takes too long" do
    t = tag()
    {:ok, gen} = SnakeBridge.call("sb_testlib", "spin_gen", [t])
    assert StreamRef.next(gen) == {:ok, 0}
    assert StreamRef.next(gen, timeout: 100) == {:error, :timeout}
    # The generator's finally ran when the timeout stopped it.
    assert SnakeBridge.call!("sb_testlib", "tag_get", [t, "finally"]) == 1
  end

  test "bad arguments are an ArgumentError naming the function, before Python runs" do
    t = tag()
    {:ok, gen} = SnakeBridge.call("sb_testlib", "tagged_gen", [t])

    assert_raise ArgumentError,
                 ~r/StreamRef.next\/2: stream_ref must be a %SnakeBridge.StreamRef{}/,
                 fn ->
                   StreamRef.next(%{}, [])
                 end

    assert_raise ArgumentError, ~r/StreamRef.next\/2: opts must be a keyword list/, fn ->
      StreamRef.next(gen, :fast)
    end

    for max <- [0, -1, 1.5, :all] do
      assert_raise ArgumentError,
                   ~r/StreamRef.next_batch\/3: max must be a positive integer/,
                   fn ->
                     StreamRef.next_batch(gen, max)
                   end
    end

    assert_raise ArgumentError, ~r/StreamRef.next_batch\/3: stream_ref/, fn ->
      StreamRef.next_batch(nil, 1)
    end

    assert produced(t) == 0
  end
end
