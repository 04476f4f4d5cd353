defmodule SnakeBridge.StreamDetectionTest do
  # Which Python results become StreamRefs (generators, async generators, iterators other
  # than built-in collections and context managers: guides/streaming.md), which stay
  # values, and which become plain Refs.
  use ExUnit.Case, async: false

  alias SnakeBridge.{Ref, StreamRef}

  @moduletag :tmp_dir

  describe "StreamRefs" do
    test "a generator is a \"generator\"" do
      {:ok, gen} = SnakeBridge.call("sb_testlib", "counting_gen", [3])
      assert %StreamRef{stream_type: "generator"} = gen
      assert Enum.to_list(gen) == [0, 1, 2]
    end

    test "iter([1, 2]) is an \"iterator\"" do
      {:ok, it} = SnakeBridge.call("builtins", "iter", [[1, 2]])
      assert %StreamRef{stream_type: "iterator"} = it
      assert Enum.to_list(it) == [1, 2]
    end

    test "an async generator is an \"async_generator\"" do
      {:ok, agen} = SnakeBridge.call("sb_testlib", "make_agen", [3])
      assert %StreamRef{stream_type: "async_generator"} = agen
    end

    test "map() and filter() objects are iterators" do
      {:ok, m} = SnakeBridge.call("sb_testlib", "make_map_iter", [[1, 2, 3]])
      assert %StreamRef{stream_type: "iterator"} = m
      assert Enum.to_list(m) == ["1", "2", "3"]

      {:ok, f} = SnakeBridge.call("sb_testlib", "make_filter_iter", [[0, 1, nil, 2]])
      assert %StreamRef{stream_type: "iterator"} = f
      assert Enum.to_list(f) == [1, 2]
    end

    test "zip() is an iterator" do
      {:ok, z} = SnakeBridge.call("builtins", "zip", [[1, 2], ["a", "b"]])
      assert %StreamRef{stream_type: "iterator"} = z
      assert Enum.to_list(z) == [{1, "a"}, {2, "b"}]
    end

    test "itertools objects are iterators" do
      for {fun, args, expected} <- [
            {"count", [5], [5, 6, 7]},
            {"chain", [[1], [2, 3]], [1, 2, 3]},
            {"islice", [[10, 20, 30, 40], 3], [10, 20, 30]},
            {"repeat", ["x", 3], ["x", "x", "x"]},
            {"cycle", [[1, 2]], [1, 2, 1]}
          ] do
        {:ok, it} = SnakeBridge.call("itertools", fun, args)
        assert %StreamRef{stream_type: "iterator"} = it, "itertools.#{fun}"
        assert Enum.take(it, 3) == expected, "itertools.#{fun}"
      end
    end

    test "a class with __iter__ and __next__ (and no __enter__) is an iterator" do
      {:ok, it} = SnakeBridge.call("sb_testlib", "LenIterator", [2])
      assert %StreamRef{stream_type: "iterator"} = it
      assert Enum.to_list(it) == [1, 2]
    end
  end

  describe "values" do
    test "lists, tuples, dicts, sets, str and bytes are converted eagerly" do
      assert {:ok, [1, 2]} = SnakeBridge.call("builtins", "list", [[1, 2]])
      assert {:ok, {1, 2}} = SnakeBridge.call("builtins", "tuple", [[1, 2]])
      assert {:ok, %{"a" => 1}} = SnakeBridge.call("builtins", "dict", [[{"a", 1}]])
      assert {:ok, %MapSet{} = set} = SnakeBridge.call("builtins", "set", [[1, 2]])
      assert MapSet.to_list(set) |> Enum.sort() == [1, 2]
      assert {:ok, %MapSet{}} = SnakeBridge.call("builtins", "frozenset", [[1]])
      assert {:ok, "abc"} = SnakeBridge.call("builtins", "str", ["abc"])
      assert {:ok, "hi"} = SnakeBridge.call("builtins", "bytes", [[104, 105]])
    end
  end

  describe "Refs" do
    test "range is a re-iterable Ref, not a StreamRef" do
      {:ok, r} = SnakeBridge.call("builtins", "range", [3])
      assert %Ref{} = r
      refute match?(%StreamRef{}, r)
    end

    test "io.StringIO (an iterator that is a context manager) is a Ref" do
      {:ok, f} = SnakeBridge.call("io", "StringIO", ["a\nb\n"])
      assert %Ref{type_name: "StringIO"} = f
      refute match?(%StreamRef{}, f)
      assert {:ok, "a\n"} = Ref.method(f, "readline")
    end

    test "a file opened with open() is a Ref", %{tmp_dir: dir} do
      path = Path.join(dir, "lines.txt")
      File.write!(path, "one\ntwo\n")

      {:ok, f} = SnakeBridge.call("builtins", "open", [path])
      assert %Ref{} = f
      refute match?(%StreamRef{}, f)
      assert {:ok, "one\ntwo\n"} = Ref.method(f, "read")
      assert {:ok, nil} = Ref.method(f, "close")
    end
  end

  describe "nested in containers" do
    test "list, tuple and dict keep their shape, iterators inside become StreamRefs" do
      {:ok, result} = SnakeBridge.call("sb_testlib", "nested_streams")

      assert %{
               "list" => [%StreamRef{stream_type: "iterator"} = in_list, 3],
               "tuple" => {%StreamRef{stream_type: "generator"} = in_tuple, "x"},
               "dict" => %{"inner" => %StreamRef{stream_type: "iterator"} = in_dict},
               "plain" => [1, {2, 3}, %{"k" => "v"}]
             } = result

      assert map_size(result) == 4
      assert Enum.to_list(in_list) == [1, 2]
      assert Enum.to_list(in_tuple) == [0, 1, 2]
      assert Enum.to_list(in_dict) == ["a"]
    end

    test "each nested stream has its own ref_id" do
      {:ok, result} = SnakeBridge.call("sb_testlib", "nested_streams")
      %{"list" => [a, _], "tuple" => {b, _}, "dict" => %{"inner" => c}} = result
      ids = [a.ref_id, b.ref_id, c.ref_id]
      assert Enum.uniq(ids) == ids
    end
  end
end
