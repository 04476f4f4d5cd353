defmodule SnakeBridge.RequestTest do
  # The protocol between Elixir and the NIF: SnakeBridge.Request builds each operation,
  # the NIF decodes them as one tagged enum (ops::Request).
  use ExUnit.Case, async: true

  alias SnakeBridge.{Context, Executor, Request}

  test "the hand-off alone answers" do
    assert Executor.run(Request.noop(), nil, nil) == {:ok, true}
  end

  test "an operation the NIF does not know is refused, and nothing runs" do
    assert {:error, {:bad_argument, message}} = Executor.run({:no_such_op, "x"}, nil, nil)
    assert message =~ "request"
    assert {:error, {:bad_argument, _}} = Executor.run({:call, "math"}, nil, nil)
  end

  test "a context that is not a %SnakeBridge.Context{} is refused where it is used" do
    # The context is read only when the answer makes a Ref (most answers need none).
    bad = {"default", nil, "builtins"}
    assert Executor.run({:call, "math", "sqrt", [4.0], [], bad}, nil, nil) == {:ok, 2.0}
    assert {:error, _} = Executor.run({:call, "builtins", "object", [], [], bad}, nil, nil)
  end

  test "the default session is one fact on both sides" do
    {:ok, ref} = SnakeBridge.call("builtins", "object", [])
    assert ref.session_id == Context.default_session()
    assert %Context{}.session_id == Context.default_session()
  end

  test "routing reads the object and the context of a request" do
    ctx = %Context{session_id: "s", pool: :p, library: "math"}
    request = Request.call("math", "sqrt", [4.0], [], ctx)
    assert Request.object(request) == "math"
    assert Request.context(request) == ctx
    assert Request.arguments(request) == ["sqrt", [4.0], [], ctx]
    assert Request.context(Request.noop()) == nil
  end
end
