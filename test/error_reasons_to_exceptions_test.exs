defmodule SnakeBridge.ErrorReasonsToExceptionsTest do
  # Every `{:error, reason}` the library returns becomes one exception, in one place.
  use ExUnit.Case, async: true

  alias SnakeBridge.{Error, Runtime, StreamRef}

  # Every reason of `t:SnakeBridge.Error.reason/0` but the two exception structs, with the
  # exception and message it must give.
  @reasons [
    {:timeout, Error, "the Python code ran past its timeout"},
    {:cancelled, Error, "the Python job was cancelled before it answered"},
    {:stopped, Error, "the generator was stopped by a timeout or a cancel and cannot go on"},
    {:released, Error, "the object's session was released (SnakeBridge.Session.release/1)"},
    {:stop_iteration, Error, "the Python iterator is exhausted"},
    {:no_len, Error, "the Python object has no len()"},
    {:unknown_stream, Error, "no live stream of this session has that id"},
    {:not_a_stream_ref, Error, "the map is not a stream_ref wire map"},
    {{:unsupported_schema, 2}, Error, "unsupported stream_ref wire schema: 2"},
    {{:bad_argument, "invalid JSON: EOF"}, ArgumentError, "invalid JSON: EOF"},
    {:python_not_started, Error,
     "the embedded Python is not running: the :snakebridge application is not started. " <>
       "Start it first with Application.ensure_all_started(:snakebridge), or start your " <>
       "application (which starts it), e.g. `mix run` without --no-start or, in a " <>
       "release's `bin/app eval`, Application.ensure_all_started(:my_app)"},
    {{:init_failed, "no encodings"}, Error, "the embedded Python failed to start: no encodings"},
    {{:internal_error, "lost job"}, Error, "SnakeBridge internal error: lost job"},
    {{:worker_down, :noconnection}, Error,
     "the pool worker is down (:noconnection): its calls and refs are gone"},
    {:not_distributed, Error,
     "the pool's workers need this node to be distributed (--sname/--name, " <>
       "RELEASE_DISTRIBUTION, or Node.start/2)"},
    {{:ref_on_other_node, :a@h, :b@h}, Error,
     "a ref of node a@h was passed to a call that runs on b@h"},
    {:not_embedded, Error,
     "this node runs no Python (config :snakebridge, embedded: false): give a pool_name"}
  ]

  test "each reason gives its exception with a message of its own" do
    for {reason, module, message} <- @reasons do
      exception = Error.to_exception(reason)
      assert is_struct(exception, module), "#{inspect(reason)} gave #{inspect(exception)}"
      assert Exception.message(exception) == message
      if module == Error, do: assert(exception.reason == reason)
    end
  end

  test "the table above covers every reason the type lists" do
    {:ok, types} = Code.Typespec.fetch_types(Error)

    [{:type, {:reason, {:type, _, :union, members}, []}}] =
      for {:type, {:reason, _, _}} = t <- types, do: t

    tags =
      for member <- members, reduce: [] do
        acc ->
          case member do
            {:atom, _, atom} -> [atom | acc]
            {:type, _, :tuple, [{:atom, _, tag} | _]} -> [tag | acc]
            {:remote_type, _, _} -> acc
          end
      end

    tested =
      for {reason, _, _} <- @reasons, do: if(is_tuple(reason), do: elem(reason, 0), else: reason)

    assert Enum.sort(tags) == Enum.sort(tested)
  end

  test "Python exceptions and conversion errors are raised as they are" do
    {:error, python} = SnakeBridge.call("operator", "truediv", [1, 0])
    assert Error.to_exception(python) == python

    assert_raise SnakeBridge.PythonError, "ZeroDivisionError: division by zero", fn ->
      SnakeBridge.call!("operator", "truediv", [1, 0])
    end

    assert_raise SnakeBridge.ConversionError,
                 ~r/cannot convert #Reference<.*> .*at args\[0\]/,
                 fn ->
                   SnakeBridge.call!("builtins", "len", [make_ref()])
                 end
  end

  test "call! raises the timeout's exception" do
    assert_raise Error, "the Python code ran past its timeout", fn ->
      SnakeBridge.call!("sb_testlib", "busy", [5.0], __runtime__: [timeout: 50])
    end
  end

  test "a ref of a released session raises :released when enumerated or shown" do
    {:ok, session} = SnakeBridge.Session.start()
    {:ok, range} = SnakeBridge.call("builtins", "range", [3], __runtime__: [session_id: session])
    {:ok, it} = SnakeBridge.call("builtins", "iter", [[1]], __runtime__: [session_id: session])
    :ok = SnakeBridge.Session.release(session)

    message = "the object's session was released (SnakeBridge.Session.release/1)"
    assert_raise Error, message, fn -> Enum.to_list(range) end
    assert_raise Error, message, fn -> SnakeBridge.Ref.repr(range) end
    assert_raise Error, message, fn -> Enum.to_list(it) end
  end

  test "the reasons returned by stream and wire functions are the listed ones" do
    {:ok, it} = SnakeBridge.call("builtins", "iter", [[]])
    assert Runtime.stream_next(it) == {:error, :stop_iteration}

    wire = %{StreamRef.to_wire_format(it) | "id" => "sr-0"}
    assert StreamRef.from_wire_format(wire) == {:error, :unknown_stream}

    assert StreamRef.from_wire_format(%{wire | "__schema__" => 2}) ==
             {:error, {:unsupported_schema, 2}}

    assert StreamRef.from_wire_format(%{}) == {:error, :not_a_stream_ref}
    assert {:error, {:bad_argument, "invalid JSON" <> _} = reason} = SnakeBridge.Wire.decode("{")
    assert %ArgumentError{message: "invalid JSON" <> _} = Error.to_exception(reason)
  end
end
