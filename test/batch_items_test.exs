defmodule SnakeBridge.BatchItemsTest do
  # Batches turn runs of plain items (str, and the numbers, None and booleans among
  # them) into terms together. Every way of pulling a batch must give each item, in
  # order, converted as a lone item would be: mixed with items that end a run (big ints,
  # bytes, containers, objects, strs of 64 KiB and more), split across read-ahead, and
  # with an error after some items.
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers, only: [stream_items!: 3]

  alias SnakeBridge.Runtime

  @items """
  import math
  class Thing:
      pass
  big = "z" * 70000
  def items():
      for i in range(300):
          yield f"s{i}"
          yield i
          yield i * 0.5
          if i % 7 == 0:
              yield None
              yield True
              yield False
              yield float("nan")
              yield -2**63
              yield 2**64
              yield b"raw"
              yield [f"in{i}", i]
              yield (i, "t")
              yield Thing()
          if i % 50 == 0:
              yield big
              yield "é" * 3
              yield ""
  """

  defp expected do
    big = String.duplicate("z", 70_000)

    Enum.flat_map(0..299, fn i ->
      base = ["s#{i}", i, i * 0.5]

      extra =
        if rem(i, 7) == 0,
          do: [
            nil,
            true,
            false,
            :nan,
            -(2 ** 63),
            2 ** 64,
            "raw",
            ["in#{i}", i],
            {i, "t"},
            :thing
          ],
          else: []

      tail = if rem(i, 50) == 0, do: [big, "ééé", ""], else: []
      base ++ extra ++ tail
    end)
  end

  defp gen(opts \\ []) do
    {:ok, %{"items" => items}} = SnakeBridge.eval(@items)
    {:ok, ref} = SnakeBridge.Ref.method(items, "__call__", [], opts)
    ref
  end

  defp normal(items), do: Enum.map(items, &normal_item/1)
  defp normal_item(%SnakeBridge.Ref{}), do: :thing
  defp normal_item(x), do: x

  defp drain(ref, n, acc) do
    case Runtime.stream_next_batch(ref, n) do
      {:ok, items} -> drain(ref, n, acc ++ items)
      {:error, :stop_iteration} -> acc
    end
  end

  test "stream_next_batch of several sizes gives every item in order" do
    for n <- [1, 3, 64, 1000, 5000] do
      assert normal(drain(gen(), n, [])) == expected(), "batch size #{n}"
    end
  end

  test "a batched StreamRef (read-ahead) and strict steps give the same items" do
    assert normal(Enum.to_list(gen(__runtime__: [stream_batch: 37]))) == expected()

    # Strict steps, on a plain ref and on one whose steps read 37 ahead (kept for later).
    for ref <- [gen(), gen(__runtime__: [stream_batch: 37])] do
      steps = Stream.repeatedly(fn -> Runtime.stream_next(ref) end)
      items = steps |> Enum.take_while(&match?({:ok, _}, &1)) |> Enum.map(&elem(&1, 1))
      assert normal(items) == expected()
    end
  end

  test "stream/5 chunks give the same items" do
    {:ok, %{"items" => items}} = SnakeBridge.eval(@items)

    {:ok, globals} =
      SnakeBridge.eval("import builtins\nbuiltins.sb_items_gen = items", %{"items" => items})

    assert is_map(globals)
    assert normal(stream_items!("builtins", "sb_items_gen", [])) == expected()
  end

  test "items before an error are delivered, then the error" do
    code = """
    def failing():
        yield "a"
        yield 1
        yield "b"
        yield "\\ud800"
    """

    {:ok, %{"failing" => failing}} = SnakeBridge.eval(code)
    {:ok, ref} = SnakeBridge.Ref.method(failing, "__call__", [])
    assert Runtime.stream_next_batch(ref, 10) == {:ok, ["a", 1, "b"]}

    assert {:error, %SnakeBridge.PythonError{type: "UnicodeEncodeError"}} =
             Runtime.stream_next_batch(ref, 10)
  end
end
