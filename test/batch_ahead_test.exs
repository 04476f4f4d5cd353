defmodule SnakeBridge.BatchAheadTest do
  # Enumerating a batched StreamRef (or an iterable Ref past its largest batch) asks for
  # the next batch before the current one is used, so Python produces it meanwhile. The
  # batch in flight must never lose, repeat or reorder an item: halts, raises and
  # suspensions wait for it and give its items back; nothing is left in the mailbox.
  # Uses the Python-side counters of sb_testlib, so not async.
  use ExUnit.Case, async: false

  alias SnakeBridge.Runtime

  setup do
    {:ok, true} = SnakeBridge.call("sb_testlib", "reset")
    :ok
  end

  defp gen(n, batch) do
    {:ok, ref} =
      SnakeBridge.call("sb_testlib", "counting_gen", [n], __runtime__: [stream_batch: batch])

    ref
  end

  defp produced, do: SnakeBridge.call!("sb_testlib", "get", ["produced"])

  defp assert_mailbox_empty do
    assert {:messages, []} = Process.info(self(), :messages)
  end

  test "a whole drain delivers every item once, in order" do
    ref = gen(10_000, 100)
    assert Enum.to_list(ref) == Enum.to_list(0..9_999)
    assert produced() == 10_000
    assert Runtime.stream_next(ref) == {:error, :stop_iteration}
    assert_mailbox_empty()
  end

  test "a halt after several batches gives back the batch in flight" do
    ref = gen(1000, 100)
    assert Enum.take(ref, 250) == Enum.to_list(0..249)
    # At most the batch being used and the one in flight beyond what was taken.
    assert produced() <= 250 + 2 * 100
    assert_mailbox_empty()
    assert Runtime.stream_next(ref) == {:ok, 250}
    assert Enum.to_list(ref) == Enum.to_list(251..999)
  end

  test "a raise in the function gives back the items after it, in flight ones too" do
    ref = gen(1000, 100)

    assert_raise RuntimeError, fn ->
      Enum.each(ref, fn i -> if i == 345, do: raise("stop at #{i}") end)
    end

    assert_mailbox_empty()
    assert Enum.to_list(ref) == Enum.to_list(346..999)
  end

  test "suspension (Stream.zip) of two batched streams, then both continue exactly" do
    a = gen(2000, 50)
    b = gen(2000, 70)
    zipped = a |> Stream.zip(b) |> Enum.take(555)
    assert zipped == Enum.map(0..554, &{&1, &1})
    assert_mailbox_empty()
    assert Enum.take(a, 2) == [555, 556]
    assert Enum.take(b, 2) == [555, 556]
    assert Enum.to_list(a) == Enum.to_list(557..1999)
  end

  test "an error raised while a batch is produced ahead comes after the items before it" do
    {:ok, ref} =
      SnakeBridge.call("sb_testlib", "gen_with_error", [450], __runtime__: [stream_batch: 100])

    parent = self()

    assert_raise SnakeBridge.PythonError, fn ->
      Enum.each(ref, &send(parent, {:item, &1}))
    end

    for i <- 0..449, do: assert_received({:item, ^i})
    refute_received {:item, _}
  end

  test "floats and strs come whole through the batches in flight" do
    {:ok, floats} =
      SnakeBridge.call("builtins", "eval", ["(i / 4 for i in range(5000))"],
        __runtime__: [stream_batch: 128]
      )

    assert Enum.to_list(floats) == Enum.map(0..4999, &(&1 / 4))

    {:ok, strs} =
      SnakeBridge.call("builtins", "eval", ["(f's{i}' * (i % 7) for i in range(5000))"],
        __runtime__: [stream_batch: 128]
      )

    assert Enum.to_list(strs) == Enum.map(0..4999, &String.duplicate("s#{&1}", rem(&1, 7)))
  end

  describe "an iterable Ref" do
    test "past the largest batch: every item once, halts and raises leave nothing behind" do
      {:ok, range} = SnakeBridge.call("builtins", "range", [20_000])
      assert Enum.sum(range) == div(20_000 * 19_999, 2)
      assert Enum.to_list(range) == Enum.to_list(0..19_999)
      assert Enum.take(range, 7000) == Enum.to_list(0..6999)
      assert_mailbox_empty()

      assert_raise RuntimeError, fn ->
        Enum.each(range, fn i -> if i == 5000, do: raise("stop") end)
      end

      assert_mailbox_empty()
      assert range |> Stream.zip(range) |> Enum.take(4000) == Enum.map(0..3999, &{&1, &1})
      assert_mailbox_empty()
    end
  end
end
