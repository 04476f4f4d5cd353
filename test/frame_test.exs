defmodule SnakeBridge.FrameTest do
  # Every call runs inside a Python frame, on every path, through one code path.
  use ExUnit.Case, async: true

  alias SnakeBridge.{Ref, Runtime}

  @lib "sb_threads"

  test "callees that read their caller's frame work from call/4" do
    assert SnakeBridge.call(@lib, "caller_frame", []) == {:ok, true}
    assert SnakeBridge.call(@lib, "grandparent_globals", []) == {:ok, true}
    assert {:ok, depth} = SnakeBridge.call(@lib, "stack_depth", [])
    assert depth >= 2
    assert {:ok, frame} = SnakeBridge.call("sys", "_getframe", [1])
    assert %Ref{type_name: "frame"} = frame
  end

  test "pydantic.TypeAdapter(int) works (when pydantic is installed)" do
    case SnakeBridge.call("importlib.util", "find_spec", ["pydantic"]) do
      {:ok, nil} ->
        # Not installed here: the same frame lookup pydantic does (two frames up).
        assert SnakeBridge.call(@lib, "grandparent_globals", []) == {:ok, true}

      {:ok, _spec} ->
        {:ok, int} = SnakeBridge.call("builtins", "eval", ["int"])
        assert {:ok, adapter} = SnakeBridge.call("pydantic", "TypeAdapter", [int])
        assert Ref.method(adapter, "validate_python", ["42"]) == {:ok, 42}
    end
  end

  test "inspect.stack() works" do
    assert {:ok, stack} = SnakeBridge.call("inspect", "stack", [])
    assert length(stack) >= 1
  end

  test "from methods, stream_next and stream/5" do
    {:ok, mod} = SnakeBridge.call("importlib", "import_module", [@lib])
    assert Ref.method(mod, "caller_frame") == {:ok, true}

    {:ok, gen} = SnakeBridge.call("builtins", "eval", ["(x for x in range(3))"])
    assert Runtime.stream_next(gen) == {:ok, 0}

    me = self()

    assert SnakeBridge.stream("builtins", "eval", ["(x for x in range(3))"], [], fn x ->
             send(me, {:item, x})
             :ok
           end) == :ok

    for x <- 0..2, do: assert_receive({:item, ^x})
  end

  test "a generator's body sees a caller frame when stepped" do
    code = "(__import__('sys')._getframe(1) is not None for _ in range(2))"
    {:ok, gen} = SnakeBridge.call("builtins", "eval", [code])
    assert Enum.to_list(gen) == [true, true]
  end

  test "tracebacks show the user's frames, none of the library's" do
    assert {:error, %SnakeBridge.PythonError{type: "ValueError", traceback: tb}} =
             SnakeBridge.call(@lib, "fail_deep", [])

    assert tb =~ "fail_deep"
    assert tb =~ "inner"
    refute tb =~ "snakebridge_shim"
  end
end
