defmodule SnakeBridge.PythonExceptionsAndTimeoutsTest do
  # Not async: the timeout tests measure wall-clock time, and a test elsewhere holding the
  # GIL would delay the stop.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers

  alias SnakeBridge.PythonError

  @lib "sb_foundation"

  defp tag, do: "err-#{System.unique_integer([:positive])}"
  defp count(tag), do: SnakeBridge.call!(@lib, "count", [tag])

  # After any error, the system still answers.
  defp assert_still_works do
    n = System.unique_integer([:positive])
    assert SnakeBridge.call("operator", "add", [n, 1]) == {:ok, n + 1}
  end

  describe "Python exceptions" do
    test "a raised exception gives type, message and traceback" do
      assert {:error, %PythonError{} = e} =
               SnakeBridge.call(@lib, "fail_with", ["value", "bad thing"])

      assert e.type == "ValueError"
      assert e.message == "bad thing"
      assert e.traceback =~ "Traceback (most recent call last)"
      assert e.traceback =~ "in fail_with"
      assert e.traceback =~ "sb_foundation.py"
      assert e.traceback =~ "ValueError: bad thing"
      assert PythonError.summary(e) == "ValueError: bad thing"
      assert_still_works()
    end

    test "Exception.message/1: the summary line, then the indented traceback" do
      {:error, e} = SnakeBridge.call(@lib, "nested_failure", ["deep"])
      [summary, "" | traceback] = String.split(Exception.message(e), "\n")

      assert summary == "ValueError: deep"
      assert hd(traceback) == "    Traceback (most recent call last):"
      assert List.last(traceback) == "    ValueError: deep"
      # Python's lines, in order, each indented; the source lines shown
      assert Enum.all?(traceback, &(&1 == "" or String.starts_with?(&1, "    ")))
      text = Enum.join(traceback, "\n")
      assert text =~ ~r/in nested_failure\n.*\n.*in inner_helper_frame/s
      assert text =~ ~s(raise ValueError)
      # no frame of the library's own Python code
      refute text =~ "snakebridge_shim"
    end

    test "Exception.message/1 without Python frames is the summary alone" do
      {:error, e} = SnakeBridge.call("operator", "truediv", [1, 0])
      assert e.traceback == "ZeroDivisionError: division by zero\n"
      assert Exception.message(e) == "ZeroDivisionError: division by zero"
    end

    test "Exception.message/1 of an exception with no message starts with its type" do
      {:error, e} = SnakeBridge.eval("raise KeyError")
      assert PythonError.summary(e) == "KeyError"

      assert Exception.message(e) =~
               ~r/\AKeyError\n\n    Traceback \(most recent call last\):\n      File "<snakebridge.eval:\d+>", line 1, in <module>\n        raise KeyError\n    KeyError\z/
    end

    test "tracebacks through generators and async generators hide the library's frames" do
      %{"gen" => gen, "agen" => agen} =
        SnakeBridge.eval!("""
        def gen():
            yield 1
            raise LookupError("sync boom")

        async def agen():
            yield 1
            raise LookupError("async boom")
        """)

      for {f, boom} <- [{gen, "sync boom"}, {agen, "async boom"}] do
        stream = SnakeBridge.Ref.method!(f, "__call__")
        e = assert_raise PythonError, fn -> Enum.to_list(stream) end
        message = Exception.message(e)
        assert message =~ ~r/\ALookupError: #{boom}\n\n    Traceback/
        assert message =~ "raise LookupError(\"#{boom}\")"
        refute message =~ "snakebridge_shim"
        refute message =~ "run_until_complete"
      end
    end

    test "the traceback shows every Python frame" do
      assert {:error, %PythonError{type: "ValueError", message: "deep"} = e} =
               SnakeBridge.call(@lib, "nested_failure", ["deep"])

      assert e.traceback =~ "in nested_failure"
      assert e.traceback =~ "in inner_helper_frame"
      assert_still_works()
    end

    test "a user-defined exception is named with its module" do
      assert {:error, %PythonError{type: "sb_foundation.SbCustomError", message: "mine"}} =
               SnakeBridge.call(@lib, "fail_with", ["custom", "mine"])

      assert_still_works()
    end

    test "builtin errors from C code" do
      assert {:error, %PythonError{type: "ZeroDivisionError", message: "division by zero"}} =
               SnakeBridge.call("operator", "truediv", [1, 0])

      assert {:error, %PythonError{type: "KeyError", message: "'missing'"}} =
               SnakeBridge.call(@lib, "fail_with", ["key", "missing"])

      assert {:error, %PythonError{type: "TypeError"}} = SnakeBridge.call("builtins", "len", [42])

      assert {:error, %PythonError{type: "ValueError"}} =
               SnakeBridge.call("builtins", "int", ["not a number"])

      assert_still_works()
    end

    test "an unknown keyword argument is a TypeError" do
      assert {:error, %PythonError{type: "TypeError", message: message}} =
               SnakeBridge.call("math", "sqrt", [4.0], no_such_kwarg: 1)

      assert message =~ "keyword"
      assert_still_works()
    end

    test "a module that does not exist" do
      assert {:error, %PythonError{type: "ModuleNotFoundError", message: message}} =
               SnakeBridge.call("no_such_module_sb_xyz", "f", [])

      assert message =~ "no_such_module_sb_xyz"
      assert_still_works()
      # and again: a failed import is not cached as a success
      assert {:error, %PythonError{type: "ModuleNotFoundError"}} =
               SnakeBridge.call("no_such_module_sb_xyz", "f", [])
    end

    test "an attribute that does not exist" do
      assert {:error, %PythonError{type: "AttributeError", message: message}} =
               SnakeBridge.call("math", "no_such_function", [1])

      assert message =~ "no_such_function"

      assert {:error, %PythonError{type: "AttributeError"}} =
               SnakeBridge.call("os", "path.no_such_thing", [])

      assert_still_works()
    end

    test "calling something that is not callable" do
      assert {:error, %PythonError{type: "TypeError", message: message}} =
               SnakeBridge.call("math", "pi", [])

      assert message =~ "not callable"
      assert_still_works()
    end
  end

  describe "call!/4" do
    test "returns the value" do
      assert SnakeBridge.call!("math", "factorial", [5]) == 120
    end

    test "raises PythonError" do
      e =
        assert_raise PythonError, "ZeroDivisionError: division by zero", fn ->
          SnakeBridge.call!("operator", "truediv", [1, 0])
        end

      assert e.traceback =~ "ZeroDivisionError"

      assert_raise PythonError, ~r/ModuleNotFoundError/, fn ->
        SnakeBridge.call!("no_such_module_sb_xyz", "f")
      end

      assert_still_works()
    end

    test "raises ConversionError for a term with no Python value" do
      assert_raise SnakeBridge.ConversionError, ~r/cannot convert/, fn ->
        SnakeBridge.call!("builtins", "len", [make_ref()])
      end
    end

    test "raises SnakeBridge.Error on timeout" do
      assert_raise SnakeBridge.Error, ~r/timeout/, fn ->
        SnakeBridge.call!(@lib, "spin", [tag()], __runtime__: [timeout: 50])
      end

      assert_still_works()
    end
  end

  describe "timeouts" do
    @tag :timing
    test "stop a pure-Python loop soon after the deadline" do
      t = tag()
      start = System.monotonic_time(:millisecond)

      assert SnakeBridge.call(@lib, "spin", [t], __runtime__: [timeout: 200]) ==
               {:error, :timeout}

      elapsed = System.monotonic_time(:millisecond) - start

      assert elapsed >= 190, "returned after #{elapsed} ms, before the deadline"
      # Typically within a few ms (bench/execution.exs); the margin is for a loaded machine.
      assert elapsed <= 1_200, "returned after #{elapsed} ms, deadline 200 ms"
      # the loop was really stopped (its finally ran), not left running; the caller
      # stops waiting 100 ms past the deadline, the finally may come after on a loaded
      # machine
      assert eventually(fn -> count(t <> ":finally") == 1 end, timeout: 10_000)
      assert_still_works()
    end

    test "a call that finishes in time is not affected" do
      assert SnakeBridge.call(@lib, "spin_for", [0.01], __runtime__: [timeout: 2_000]) |> elem(0) ==
               :ok

      assert SnakeBridge.call("operator", "add", [1, 2], __runtime__: [timeout: 50]) == {:ok, 3}
    end

    @tag :timing
    test "busy(5.0) with a timeout returns on time and Python is free again" do
      start = System.monotonic_time(:millisecond)

      assert SnakeBridge.call("sb_testlib", "busy", [5.0], __runtime__: [timeout: 300]) ==
               {:error, :timeout}

      elapsed = System.monotonic_time(:millisecond) - start
      # Far from the 5 s the call would take; the margin is for a loaded machine.
      assert elapsed in 290..1_300, "returned after #{elapsed} ms, deadline 300 ms"

      # The GIL is free: a call completes promptly.
      start = System.monotonic_time(:millisecond)
      assert_still_works()
      assert System.monotonic_time(:millisecond) - start < 1_000
    end

    test "except Exception cannot swallow the stop" do
      t = tag()

      assert SnakeBridge.call(@lib, "swallow_attempt", [t], __runtime__: [timeout: 100]) ==
               {:error, :timeout}

      assert eventually(fn -> count(t <> ":finally") == 1 end, timeout: 10_000)
      assert count(t <> ":swallowed") == 0
      assert_still_works()
    end

    test "a stop that arrives as the call ends never leaks into the next call" do
      # Deadlines right at the end of the work: whether each call finishes or times out,
      # the following call on the system must succeed.
      for i <- 1..60 do
        result =
          SnakeBridge.call(@lib, "spin_for", [0.002], __runtime__: [timeout: rem(i, 4) + 1])

        assert match?({:ok, n} when is_integer(n), result) or result == {:error, :timeout}

        for _ <- 1..3 do
          assert SnakeBridge.call("operator", "mul", [i, 3]) == {:ok, i * 3}
        end
      end
    end
  end
end
