defmodule SnakeBridge.WireTest do
  # The JSON shape of a StreamRef (its keys are listed in guides/streaming.md), and
  # finding a live stream again from it.
  use ExUnit.Case, async: false

  alias SnakeBridge.{Runtime, StreamRef, Wire}

  @keys ~w(__type__ __schema__ id session_id stream_type type_name python_module)

  # A pool of this node itself, for the refs that name one.
  setup_all do
    :ok = SnakeBridge.Pool.start(:wire_pool, nodes: [node()])
    on_exit(fn -> SnakeBridge.Pool.stop(:wire_pool) end)
  end

  defp gen(n, opts \\ []) do
    {:ok, %StreamRef{} = ref} = SnakeBridge.call("sb_testlib", "counting_gen", [n], opts)
    ref
  end

  describe "to_wire_format/1" do
    test "has exactly the seed's keys and values" do
      ref = gen(5)
      wire = StreamRef.to_wire_format(ref)

      assert Enum.sort(Map.keys(wire)) == Enum.sort(@keys)

      assert wire == %{
               "__type__" => "stream_ref",
               "__schema__" => 1,
               "id" => ref.ref_id,
               "session_id" => "default",
               "stream_type" => "generator",
               "type_name" => "generator",
               # The seed's example says "builtins" (a generator's type's module); the
               # module of the generator's function tells more (sb_testlib's gen).
               "python_module" => "sb_testlib"
             }
    end

    test "an iterator's type_name is its Python type" do
      {:ok, it} = SnakeBridge.call("builtins", "iter", [[1]])

      assert %{"stream_type" => "iterator", "type_name" => "list_iterator"} =
               StreamRef.to_wire_format(it)

      {:ok, c} = SnakeBridge.call("itertools", "count", [])

      assert %{"type_name" => "count", "python_module" => "itertools"} =
               StreamRef.to_wire_format(c)

      {:ok, a} = SnakeBridge.call("sb_testlib", "make_agen", [1])

      assert %{"stream_type" => "async_generator", "type_name" => "async_generator"} =
               StreamRef.to_wire_format(a)
    end

    test "carries the session id given at the call" do
      ref = gen(1, __runtime__: [session_id: "session_xyz"])
      assert %{"session_id" => "session_xyz"} = StreamRef.to_wire_format(ref)
    end
  end

  describe "from_wire_format/1" do
    test "gives back a usable StreamRef that continues the same iterator" do
      ref = gen(6, __runtime__: [session_id: "s1", pool_name: :wire_pool])
      assert Enum.take(ref, 2) == [0, 1]

      assert {:ok, %StreamRef{} = again} =
               StreamRef.from_wire_format(StreamRef.to_wire_format(ref))

      assert again.ref_id == ref.ref_id
      assert again.stream_type == "generator"
      assert again.python_module == "sb_testlib"
      assert again.session_id == "s1"
      assert again.pool_name == :wire_pool
      assert again.library == "sb_testlib"

      assert Runtime.stream_next(again) == {:ok, 2}
      assert Enum.take(ref, 1) == [3]
      assert Enum.to_list(again) == [4, 5]
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}
    end

    test "{:error, :unknown_stream} for an id no live stream has" do
      ref = gen(1)
      wire = StreamRef.to_wire_format(ref)

      for id <- ["abc123", "sr-00000000-1", "", "sr-x-y", ref.ref_id <> "0"] do
        assert StreamRef.from_wire_format(%{wire | "id" => id}) == {:error, :unknown_stream},
               "id #{inspect(id)}"
      end
    end

    test "the StreamRef found again says whether the stream has ended, and its batch" do
      {:ok, it} = SnakeBridge.call("builtins", "iter", [[1, 2]], __runtime__: [stream_batch: 5])

      assert {:ok, %StreamRef{exhausted: false, batch: 5}} =
               StreamRef.from_wire_format(StreamRef.to_wire_format(it))

      assert Enum.to_list(it) == [1, 2]

      assert {:ok, %StreamRef{exhausted: true, batch: 5}} =
               StreamRef.from_wire_format(StreamRef.to_wire_format(it))
    end

    test "a wire map is honoured only for its own session" do
      alice = gen(5, __runtime__: [session_id: "alice"])
      wire = StreamRef.to_wire_format(alice)

      for other <- ["bob", "default", ""] do
        assert StreamRef.from_wire_format(%{wire | "session_id" => other}) ==
                 {:error, :unknown_stream}
      end

      assert StreamRef.from_wire_format(Map.delete(wire, "session_id")) ==
               {:error, :unknown_stream}

      assert {:ok, _} = StreamRef.from_wire_format(wire)
      # Nothing was taken from alice's stream.
      assert Enum.to_list(alice) == [0, 1, 2, 3, 4]
    end

    test "ids cannot be guessed from another id: 128 random-looking bits each" do
      a = gen(1)
      b = gen(1)
      "sr-" <> hex_a = a.ref_id
      "sr-" <> hex_b = b.ref_id
      assert byte_size(hex_a) == 32 and byte_size(hex_b) == 32
      x = String.to_integer(hex_a, 16)
      y = String.to_integer(hex_b, 16)
      differ = for(<<(bit::1 <- <<Bitwise.bxor(x, y)::128>>)>>, do: bit) |> Enum.sum()
      assert differ in 24..104

      # Neighbouring ids (what decrementing an id gave before) name no stream.
      for delta <- [-2, -1, 1, 2] do
        id = "sr-" <> String.pad_leading(Integer.to_string(x + delta, 16), 32, "0")
        wire = %{StreamRef.to_wire_format(a) | "id" => String.downcase(id)}
        assert StreamRef.from_wire_format(wire) == {:error, :unknown_stream}
      end
    end

    test "{:error, :unknown_stream} for the seed's own example" do
      wire = %{
        "__type__" => "stream_ref",
        "__schema__" => 1,
        "id" => "abc123",
        "session_id" => "session_xyz",
        "stream_type" => "generator",
        "type_name" => "generator",
        "python_module" => "builtins"
      }

      assert StreamRef.from_wire_format(wire) == {:error, :unknown_stream}
    end

    test "a Ref's id is not a stream id" do
      {:ok, r} = SnakeBridge.call("builtins", "range", [3])
      wire = %{"__type__" => "stream_ref", "__schema__" => 1, "id" => r.id}
      assert StreamRef.from_wire_format(wire) == {:error, :unknown_stream}
    end

    test "{:error, {:unsupported_schema, 2}} for schema 2" do
      wire = gen(1) |> StreamRef.to_wire_format() |> Map.put("__schema__", 2)
      assert StreamRef.from_wire_format(wire) == {:error, {:unsupported_schema, 2}}
    end

    test "something that is not a stream_ref map is an error" do
      assert {:error, _} = StreamRef.from_wire_format(%{"__type__" => "other"})
      assert {:error, _} = StreamRef.from_wire_format(%{})
    end
  end

  describe "Wire.encode/1 and decode/1" do
    test "round-trip the wire map through JSON" do
      ref = gen(4)
      wire = StreamRef.to_wire_format(ref)

      assert {:ok, json} = Wire.encode(wire)
      assert is_binary(json)
      assert json =~ ~s("__type__":"stream_ref")
      assert json =~ ~s("__schema__":1)

      assert Wire.decode(json) == {:ok, wire}
    end

    test "a decoded map finds the live stream" do
      ref = gen(4)
      assert Runtime.stream_next(ref) == {:ok, 0}

      {:ok, json} = ref |> StreamRef.to_wire_format() |> Wire.encode()
      {:ok, decoded} = Wire.decode(json)

      assert {:ok, again} = StreamRef.from_wire_format(decoded)
      assert Enum.to_list(again) == [1, 2, 3]
      # A wire map names a live stream: `ref` is used here so that the BEAM cannot
      # collect it (and the stream with it) before the lookup above.
      assert again.ref_id == ref.ref_id
    end

    test "the seed's JSON decodes to the wire map" do
      json = """
      {
          "__type__": "stream_ref",
          "__schema__": 1,
          "id": "abc123",
          "session_id": "session_xyz",
          "stream_type": "generator",
          "type_name": "generator",
          "python_module": "builtins"
      }
      """

      assert {:ok,
              %{
                "__type__" => "stream_ref",
                "__schema__" => 1,
                "id" => "abc123",
                "session_id" => "session_xyz",
                "stream_type" => "generator",
                "type_name" => "generator",
                "python_module" => "builtins"
              }} = Wire.decode(json)
    end

    test "invalid JSON is an error" do
      assert {:error, _} = Wire.decode("{not json")
    end
  end
end
