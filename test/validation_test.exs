defmodule SnakeBridge.ValidationTest do
  # Bad input gets a clear error before Python runs, and leaves everything working.
  use ExUnit.Case, async: true

  alias SnakeBridge.{ConversionError, Ref, Wire}

  defp calls_python?(fun) do
    tag = "v#{System.unique_integer([:positive])}"

    try do
      fun.(tag)
    rescue
      ArgumentError -> :raised
    end

    SnakeBridge.call!("sb_foundation", "count", [tag]) > 0
  end

  describe "__runtime__ options" do
    test "an unknown option (a typo) is refused, naming it" do
      assert_raise ArgumentError, ~r/unknown __runtime__ option :timeuot/, fn ->
        SnakeBridge.call("math", "sqrt", [4], __runtime__: [timeuot: 5])
      end
    end

    test "bad values are refused before Python is called" do
      bad = [
        timeout: -5,
        timeout: 1.5,
        timeout: "100",
        stream_timeout: -1,
        stream_batch: 0,
        stream_batch: 2 ** 70,
        pool_name: 5,
        session_id: 7,
        stream_window: 0,
        stream_chunk: :many,
        profile: :no_such_profile
      ]

      for {key, value} <- bad do
        refute calls_python?(fn tag ->
                 SnakeBridge.call("sb_foundation", "bump", [tag], __runtime__: [{key, value}])
               end),
               "#{key}: #{inspect(value)} reached Python"

        assert_raise ArgumentError, ~r/#{key}/, fn ->
          SnakeBridge.call("sb_foundation", "bump", ["x"], __runtime__: [{key, value}])
        end
      end

      assert_raise ArgumentError, fn -> SnakeBridge.call("math", "sqrt", [4], __runtime__: 5) end
      assert SnakeBridge.call("math", "sqrt", [4]) == {:ok, 2.0}
    end

    test "stream/5 checks the same options before starting" do
      assert_raise ArgumentError, ~r/stream_window/, fn ->
        SnakeBridge.stream("builtins", "range", [3], [__runtime__: [stream_window: -1]], fn _ ->
          :ok
        end)
      end

      refute_received _
    end
  end

  describe "arguments of the wrong kind" do
    test "raise an ArgumentError naming the argument, before Python runs" do
      cases = [
        {"module", fn -> SnakeBridge.call(:math, "sqrt", [4]) end},
        {"function", fn -> SnakeBridge.call("math", :sqrt, [4]) end},
        {"args", fn -> SnakeBridge.call("math", "sqrt", 4) end},
        {"opts", fn -> SnakeBridge.call("math", "sqrt", [4], :fast) end},
        {"opts", fn -> SnakeBridge.call("math", "sqrt", [4], [1, 2]) end},
        {"callback",
         fn -> SnakeBridge.stream("builtins", "range", [3], [], fn _, _ -> :ok end) end},
        {"stream_ref", fn -> SnakeBridge.Runtime.stream_next(:not_a_stream) end},
        {"max",
         fn ->
           SnakeBridge.Runtime.stream_next_batch(
             elem(SnakeBridge.call("builtins", "iter", [[1]]), 1),
             0
           )
         end},
        {"ref", fn -> Ref.method(%{}, "x") end},
        {"name",
         fn -> Ref.getattr(elem(SnakeBridge.call("builtins", "range", [3]), 1), :start) end},
        {"json", fn -> Wire.decode(123) end}
      ]

      for {name, fun} <- cases do
        assert_raise ArgumentError, ~r/#{name} must be/, fun
      end
    end

    test "Ref functions work on a StreamRef (a sqlite3 cursor is an iterator)" do
      # sqlite3 objects are bound to their thread: a thread-affine session.
      {:ok, session} = SnakeBridge.Session.start(affinity: :thread)

      {:ok, conn} =
        SnakeBridge.call("sqlite3", "connect", [":memory:"], __runtime__: [session_id: session])

      {:ok, %SnakeBridge.StreamRef{} = cursor} = Ref.method(conn, "execute", ["select 1, 2"])
      assert Ref.method(cursor, "fetchall") == {:ok, [{1, 2}]}
      assert {:ok, _} = Ref.getattr(cursor, "rowcount")
      :ok = SnakeBridge.Session.release(session)
    end
  end

  test "a map as a dict key is a ConversionError, not a Python TypeError" do
    assert {:error, %ConversionError{}} = SnakeBridge.call("builtins", "len", [%{%{a: 1} => 1}])
  end

  test "an integer too large for the BEAM is a clear Python error" do
    assert {:error, %SnakeBridge.PythonError{type: "OverflowError", message: message}} =
             SnakeBridge.call("builtins", "eval", ["1 << (1 << 26)"])

    assert message =~ "too large"
    assert {:ok, n} = SnakeBridge.call("builtins", "eval", ["1 << 100000"])
    assert n == Bitwise.bsl(1, 100_000)
  end

  test "Wire.encode of an improper list is an error, not a panic" do
    assert {:error, {:bad_argument, _}} = Wire.encode([1, 2 | 3])
    assert {:error, {:bad_argument, _}} = Wire.encode(%{"a" => [1 | :b]})
    assert Wire.encode([1, [2, 3]]) == {:ok, "[1,[2,3]]"}
  end

  @tag :timing
  test "inspect of a Ref whose __repr__ hangs gives up after 100 ms: its type and id" do
    {:ok, slow} = SnakeBridge.call("sb_threads", "SlowRepr", [])
    {us, text} = :timer.tc(fn -> inspect(slow) end)
    assert text == "#SnakeBridge.Ref<sb_threads.SlowRepr #{slow.id}>"
    assert us < 4_000_000
    # Ref.repr/1 has no limit: it is asked for explicitly.
    assert %Ref{} = slow
  end
end
