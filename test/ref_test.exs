defmodule SnakeBridge.RefTest do
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers

  alias SnakeBridge.{PythonError, Ref, StreamRef}

  @lib "sb_foundation"

  defp range(args), do: SnakeBridge.call!("builtins", "range", args)

  describe "objects with no Elixir value" do
    test "come back as %Ref{} with their type" do
      assert %Ref{} = ref = SnakeBridge.call!("fractions", "Fraction", [3, 4])
      assert ref.type_name == "Fraction"
      assert ref.python_module == "fractions"
      assert is_binary(ref.id)
      assert ref.session_id == "default"

      assert %Ref{type_name: "range", python_module: "builtins"} = range([3])
      assert %Ref{type_name: "object"} = SnakeBridge.call!("builtins", "object")
    end

    test "inside containers, the container keeps its shape" do
      assert {:ok, [%Ref{}, %Ref{}]} =
               SnakeBridge.call("builtins", "list", [[range([1]), range([2])]])

      assert {:ok, %{"r" => %Ref{type_name: "range"}, "n" => 1}} =
               SnakeBridge.call("builtins", "dict", [], r: range([5]), n: 1)
    end
  end

  describe "getattr/2" do
    test "reads attributes, following dotted paths" do
      ref = SnakeBridge.call!("fractions", "Fraction", [3, 4])
      assert Ref.getattr(ref, "numerator") == {:ok, 3}
      assert Ref.getattr(ref, "denominator") == {:ok, 4}
      assert Ref.getattr(ref, "real.denominator") == {:ok, 4}

      # An aware datetime.time: it stays a Ref (dates convert to Date).
      time = SnakeBridge.call!("sb_values", "aware_time", [13, 45])
      assert Ref.getattr(time, "hour") == {:ok, 13}
      assert {:ok, %Ref{type_name: "type"}} = Ref.getattr(time, "__class__")
      assert Ref.getattr(time, "__class__.__name__") == {:ok, "time"}
    end

    test "a missing attribute is an AttributeError" do
      ref = SnakeBridge.call!("fractions", "Fraction", [3, 4])

      assert {:error, %PythonError{type: "AttributeError", message: message}} =
               Ref.getattr(ref, "no_such_attr")

      assert message =~ "no_such_attr"
      # the ref still works afterwards
      assert Ref.getattr(ref, "numerator") == {:ok, 3}
    end
  end

  describe "method/4" do
    test "with positional args and kwargs" do
      time = SnakeBridge.call!("sb_values", "aware_time", [13, 45])
      assert Ref.method(time, "isoformat") == {:ok, "13:45:00+00:00"}
      assert Ref.method(time, "strftime", ["%H.%M"]) == {:ok, "13.45"}

      assert {:ok, %Ref{type_name: "time"} = later} =
               Ref.method(time, "replace", [], hour: 8, minute: 1)

      assert Ref.method(later, "isoformat") == {:ok, "08:01:00+00:00"}
      # the original is unchanged
      assert Ref.method(time, "isoformat") == {:ok, "13:45:00+00:00"}

      cal = SnakeBridge.call!("calendar", "TextCalendar", [], firstweekday: 6)
      assert Ref.getattr(cal, "firstweekday") == {:ok, 6}
      assert Ref.method(cal, "formatweekheader", [2]) == {:ok, "Su Mo Tu We Th Fr Sa"}
    end

    test "method errors are PythonErrors" do
      time = SnakeBridge.call!("sb_values", "aware_time", [13, 45])

      assert {:error, %PythonError{type: "ValueError"}} =
               Ref.method(time, "replace", [], hour: 25)

      assert {:error, %PythonError{type: "AttributeError"}} = Ref.method(time, "no_method")

      assert {:error, %PythonError{type: "TypeError"}} = Ref.method(time, "replace", [], bogus: 1)
    end

    test "mutating methods act on the one object" do
      dq = SnakeBridge.call!("collections", "deque", [[1, 2]])
      assert %Ref{type_name: "deque"} = dq
      assert Ref.method(dq, "append", [3]) == {:ok, nil}
      assert Ref.method(dq, "appendleft", [0]) == {:ok, nil}
      assert SnakeBridge.call("builtins", "list", [dq]) == {:ok, [0, 1, 2, 3]}
      assert Enum.to_list(dq) == [0, 1, 2, 3]
    end
  end

  describe "passing a Ref back" do
    test "gives Python the same object" do
      a = SnakeBridge.call!("builtins", "object")
      b = SnakeBridge.call!("builtins", "object")
      assert SnakeBridge.call("operator", "is_", [a, a]) == {:ok, true}
      assert SnakeBridge.call("operator", "is_", [a, b]) == {:ok, false}

      # Also when nested in containers and as kwargs.
      assert SnakeBridge.call("operator", "is_", [a, hd([a])]) == {:ok, true}
      assert {:ok, [%Ref{} = a1, {%Ref{} = a2}]} = SnakeBridge.call(@lib, "identity", [[a, {a}]])
      assert SnakeBridge.call("operator", "is_", [a1, a]) == {:ok, true}
      assert SnakeBridge.call("operator", "is_", [a2, a]) == {:ok, true}
      {:ok, [back]} = SnakeBridge.call(@lib, "identity", [[a]])
      assert SnakeBridge.call("operator", "is_", [back, a]) == {:ok, true}
    end

    test "state set through one call is seen by the next" do
      ns = SnakeBridge.call!("types", "SimpleNamespace", [], a: 1)
      assert SnakeBridge.call("builtins", "setattr", [ns, "b", [1, 2]]) == {:ok, nil}
      assert Ref.getattr(ns, "b") == {:ok, [1, 2]}
      assert Ref.getattr(ns, "a") == {:ok, 1}
      assert SnakeBridge.call("builtins", "getattr", [ns, "b"]) == {:ok, [1, 2]}
    end

    test "a Ref copied to another process is the same object there" do
      ns = SnakeBridge.call!("types", "SimpleNamespace", [], v: 0)
      parent = self()

      spawn(fn ->
        nil = SnakeBridge.call!("builtins", "setattr", [ns, "v", 42])
        send(parent, :done)
      end)

      assert_receive :done, 5_000
      assert Ref.getattr(ns, "v") == {:ok, 42}
    end
  end

  describe "Inspect and repr" do
    test "shows the Python repr" do
      r = range([10])
      assert Ref.repr(r) == "range(0, 10)"
      assert inspect(r) == "#SnakeBridge.Ref<range(0, 10)>"

      f = SnakeBridge.call!("fractions", "Fraction", [1, 3])
      assert inspect(f) == "#SnakeBridge.Ref<Fraction(1, 3)>"
      assert inspect([f]) == "[#SnakeBridge.Ref<Fraction(1, 3)>]"
    end

    test "a long repr is shortened by inspect, whole from repr/1" do
      d = SnakeBridge.call!("collections", "deque", [Enum.to_list(1..1000)])
      assert byte_size(Ref.repr(d)) > 3000
      assert String.ends_with?(Ref.repr(d), "1000])")
      shown = inspect(d)
      assert String.starts_with?(shown, "#SnakeBridge.Ref<deque([1, 2, 3,")
      assert String.ends_with?(shown, "...>")
      assert byte_size(shown) < 300
    end
  end

  describe "Enumerable" do
    test "range(10): every enumeration starts afresh" do
      r = range([10])
      assert Enum.take(r, 5) == [0, 1, 2, 3, 4]
      assert Enum.sum(r) == 45
      assert Enum.map(r, &(&1 * 2)) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
      assert Enum.to_list(r) == Enum.to_list(0..9)
      assert Enum.take(r, 2) == [0, 1]
      assert Enum.member?(r, 7)
      refute Enum.member?(r, 10)
      assert Enum.at(r, 3) == 3

      assert Enum.reduce_while(r, 0, fn x, acc ->
               if x < 3, do: {:cont, acc + x}, else: {:halt, acc}
             end) ==
               3

      assert Enum.zip(r, [:a, :b]) == [{0, :a}, {1, :b}]
      assert r |> Stream.map(&(&1 + 1)) |> Enum.take(3) == [1, 2, 3]
    end

    test "Enum.count uses len()" do
      assert Enum.count(range([10])) == 10
      assert Enum.count(range([0])) == 0
      # iterating a trillion items would never finish; len() answers at once
      huge = range([1_000_000_000_000])
      assert Enum.count(huge) == 1_000_000_000_000
      assert Enum.take(huge, 3) == [0, 1, 2]
    end

    test "an iterable without len() is counted by iterating" do
      it = SnakeBridge.call!(@lib, "OnlyIterable", [4])
      assert %Ref{} = it
      assert Enum.count(it) == 4
      assert Enum.to_list(it) == [0, 1, 2, 3]
      assert Enum.to_list(it) == [0, 1, 2, 3]
    end

    test "a non-iterable Ref raises on enumeration" do
      obj = SnakeBridge.call!("builtins", "object")

      assert_raise PythonError, ~r/TypeError/, fn -> Enum.to_list(obj) end
    end
  end

  describe "files and context managers" do
    test "io.StringIO is a Ref, not a StreamRef" do
      assert {:ok, %Ref{type_name: "StringIO"} = f} =
               SnakeBridge.call("io", "StringIO", ["a\nb\n"])

      refute is_struct(f, StreamRef)
      assert Ref.method(f, "readline") == {:ok, "a\n"}
      assert Ref.method(f, "readline") == {:ok, "b\n"}
      assert Ref.method(f, "readline") == {:ok, ""}
      assert Ref.method(f, "seek", [0]) == {:ok, 0}
      assert Enum.to_list(f) == ["a\n", "b\n"]
    end

    test "an open file is a Ref with its methods" do
      dir = tmp_dir!()
      path = Path.join(dir, "data.txt")
      File.write!(path, "line 1\nline 2\n")

      assert {:ok, %Ref{type_name: "TextIOWrapper"} = f} =
               SnakeBridge.call("builtins", "open", [path])

      assert Ref.getattr(f, "closed") == {:ok, false}
      assert Ref.method(f, "read") == {:ok, "line 1\nline 2\n"}
      assert Ref.method(f, "close") == {:ok, nil}
      assert Ref.getattr(f, "closed") == {:ok, true}

      assert {:ok, w} = SnakeBridge.call("builtins", "open", [path, "w"], encoding: "utf-8")
      assert Ref.method(w, "write", ["été"]) == {:ok, 3}
      assert Ref.method(w, "__exit__", [nil, nil, nil]) == {:ok, nil}
      assert Ref.getattr(w, "closed") == {:ok, true}
      assert File.read!(path) == "été"
    end
  end
end
