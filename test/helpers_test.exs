defmodule SnakeBridge.HelpersTest do
  # Module attributes, setattr, eval, reload and the `!` variants (README, Calling Python).
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers

  alias SnakeBridge.{ConversionError, PythonError, Ref}

  describe "SnakeBridge.getattr/3" do
    test "reads module attributes, following dotted paths" do
      assert SnakeBridge.getattr("math", "pi") == {:ok, :math.pi()}
      assert {:ok, {3, minor, _, _, _}} = SnakeBridge.getattr("sys", "version_info")
      assert is_integer(minor)
      assert SnakeBridge.getattr("sys", "version_info.major") == {:ok, 3}
      assert SnakeBridge.getattr("os.path", "sep") == {:ok, "/"}
      assert {:ok, %Ref{type_name: "type"}} = SnakeBridge.getattr("collections", "OrderedDict")
      # the same value a call computes
      assert SnakeBridge.getattr("json", "__name__") == {:ok, "json"}
    end

    test "a missing attribute or module is a PythonError" do
      assert {:error, %PythonError{type: "AttributeError", message: message}} =
               SnakeBridge.getattr("math", "no_such_constant")

      assert message =~ "no_such_constant"

      assert {:error, %PythonError{type: "ModuleNotFoundError"}} =
               SnakeBridge.getattr("no_such_module_sb_attr", "x")
    end

    test "getattr!/3 returns the value or raises" do
      assert SnakeBridge.getattr!("string", "ascii_lowercase") == "abcdefghijklmnopqrstuvwxyz"

      assert_raise PythonError, ~r/\AAttributeError: /, fn ->
        SnakeBridge.getattr!("math", "no_such_constant")
      end
    end

    test "bad arguments raise ArgumentError before Python runs" do
      assert_raise ArgumentError, ~r/SnakeBridge.getattr\/3: module must be/, fn ->
        SnakeBridge.getattr(:math, "pi")
      end

      assert_raise ArgumentError, ~r/name must be a string/, fn ->
        SnakeBridge.getattr("math", :pi)
      end

      assert_raise ArgumentError, ~r/only __runtime__/, fn ->
        SnakeBridge.getattr("math", "pi", default: 1)
      end

      assert_raise ArgumentError, ~r/unknown __runtime__ option :timout/, fn ->
        SnakeBridge.getattr("math", "pi", __runtime__: [timout: 5])
      end
    end

    test "refs it returns carry the session" do
      {:ok, session} = SnakeBridge.Session.start()

      assert {:ok, %Ref{session_id: ^session}} =
               SnakeBridge.getattr("collections", "OrderedDict",
                 __runtime__: [session_id: session]
               )

      :ok = SnakeBridge.Session.release(session)
    end
  end

  describe "Ref.setattr/3" do
    test "sets attributes, the last one of a dotted path" do
      ns = SnakeBridge.call!("types", "SimpleNamespace", [], a: 1)
      assert Ref.setattr(ns, "a", 2) == :ok
      assert Ref.setattr(ns, "b", %{"k" => [1, 2.5, nil]}) == :ok
      assert Ref.getattr(ns, "a") == {:ok, 2}
      assert Ref.getattr(ns, "b") == {:ok, %{"k" => [1, 2.5, nil]}}

      inner = SnakeBridge.call!("types", "SimpleNamespace", [])
      :ok = Ref.setattr(ns, "inner", inner)
      assert Ref.setattr(ns, "inner.deep", "x") == :ok
      assert Ref.getattr(inner, "deep") == {:ok, "x"}
      # a Ref as the value is the same object
      assert SnakeBridge.call!("operator", "is_", [SnakeBridge.Ref.getattr!(ns, "inner"), inner])
    end

    test "errors: a read-only attribute, a value with no Python form" do
      range = SnakeBridge.call!("builtins", "range", [3])

      assert {:error, %PythonError{type: "AttributeError"}} = Ref.setattr(range, "start", 1)

      ns = SnakeBridge.call!("types", "SimpleNamespace", [])

      ref = make_ref()
      assert {:error, %ConversionError{term: ^ref}} = Ref.setattr(ns, "p", ref)
      # Python was not called: nothing was set
      assert {:error, %PythonError{type: "AttributeError"}} = Ref.getattr(ns, "p")

      assert_raise ArgumentError, ~r/Ref.setattr\/3: name must be a string/, fn ->
        Ref.setattr(ns, :a, 1)
      end

      assert_raise ArgumentError, ~r/Ref.setattr\/3: ref must be/, fn ->
        Ref.setattr("not a ref", "a", 1)
      end
    end
  end

  describe "Ref.getattr!/2 and Ref.method!/4" do
    test "return the value or raise" do
      # (a date would convert to an Elixir Date: an aware time stays a Ref)
      utc = SnakeBridge.getattr!("datetime", "timezone.utc")
      time = SnakeBridge.call!("datetime", "time", [12, 30], tzinfo: utc)
      assert Ref.getattr!(time, "minute") == 30
      assert Ref.method!(time, "isoformat") == "12:30:00+00:00"
      assert Ref.method!(time, "strftime", ["%H"]) == "12"
      assert %Ref{type_name: "time"} = Ref.method!(time, "replace", [], minute: 1)

      assert_raise PythonError, ~r/\AAttributeError/, fn -> Ref.getattr!(time, "nope") end

      assert_raise PythonError, ~r/\AValueError/, fn ->
        Ref.method!(time, "replace", [], hour: 25)
      end

      assert_raise ArgumentError, fn -> Ref.method!(time, :isoformat) end
    end
  end

  describe "SnakeBridge.eval/3" do
    test "an expression gives its value" do
      assert SnakeBridge.eval("1 + 2") == {:ok, 3}
      assert SnakeBridge.eval("[x * 2 for x in xs]", %{"xs" => [1, 2, 3]}) == {:ok, [2, 4, 6]}
      assert SnakeBridge.eval("a + b", %{a: "x", b: "y"}) == {:ok, "xy"}

      assert {:ok, %Ref{type_name: "Fraction"}} =
               SnakeBridge.eval("__import__('fractions').Fraction(1, 3)")

      assert SnakeBridge.eval("   ") == {:ok, %{}}
    end

    test "statements give the globals they leave, without __builtins__" do
      globals = %{"n" => 16, keep: "me"}

      assert {:ok, result} =
               SnakeBridge.eval(
                 """
                 import math
                 r = math.sqrt(n)
                 def twice(x):
                     return 2 * x
                 """,
                 globals
               )

      assert %{"n" => 16, "keep" => "me", "r" => 4.0} = result
      assert %Ref{type_name: "module"} = result["math"]
      assert %Ref{type_name: "function"} = twice = result["twice"]
      refute Map.has_key?(result, "__builtins__")
      assert Map.keys(result) |> Enum.sort() == ["keep", "math", "n", "r", "twice"]
      # a function defined there works, with its globals
      assert Ref.method(twice, "__call__", [21]) == {:ok, 42}
    end

    test "the globals map is copied: a Python object in it is shared, the map is not" do
      ns = SnakeBridge.call!("types", "SimpleNamespace", [], hits: 0)
      {:ok, after_run} = SnakeBridge.eval("ns.hits += 1\nx = 1", %{ns: ns})
      assert Ref.getattr(ns, "hits") == {:ok, 1}
      assert Map.keys(after_run) |> Enum.sort() == ["ns", "x"]
      # a second run starts from the given globals only
      assert SnakeBridge.eval("'x' in globals()", %{}) == {:ok, false}
    end

    test "errors carry a traceback that shows the snippet's lines" do
      assert {:error, %PythonError{type: "NameError"}} = SnakeBridge.eval("undefined_sb_name")

      assert {:error, %PythonError{type: "ZeroDivisionError"} = e} =
               SnakeBridge.eval("def f(d):\n    return 1 / d\nf(0)")

      assert e.traceback =~ ~r/File "<snakebridge.eval:\d+>", line 3, in <module>\n +f\(0\)/
      assert e.traceback =~ ~r/File "<snakebridge.eval:\d+>", line 2, in f\n +return 1 \/ d/

      assert {:error, %PythonError{type: "SyntaxError"} = e} = SnakeBridge.eval("x = = 1")
      assert e.traceback =~ "x = = 1"

      assert_raise PythonError, ~r/\ANameError/, fn -> SnakeBridge.eval!("nope_sb") end
      assert SnakeBridge.eval!("len(s)", %{s: "abc"}) == 3
    end

    test "bad arguments raise ArgumentError before Python runs" do
      assert_raise ArgumentError, ~r/SnakeBridge.eval\/3: code must be a string/, fn ->
        SnakeBridge.eval(:code)
      end

      assert_raise ArgumentError, ~r/globals must be a map with string or atom keys/, fn ->
        SnakeBridge.eval("1", x: 1)
      end

      assert_raise ArgumentError, ~r/globals must be a map with string or atom keys/, fn ->
        SnakeBridge.eval("1", %{1 => 2})
      end

      assert_raise ArgumentError, ~r/only __runtime__/, fn ->
        SnakeBridge.eval("1", %{}, timeout: 5)
      end

      assert {:error, %ConversionError{path: [{:arg, 1}, {:key, "p"}]}} =
               SnakeBridge.eval("p", %{p: make_ref()})
    end

    test "a timeout stops the code (its finally runs), and the thread is free again" do
      flag = SnakeBridge.call!("types", "SimpleNamespace", [], stopped: false)

      assert SnakeBridge.eval(
               """
               try:
                   while True:
                       pass
               finally:
                   flag.stopped = True
               """,
               %{flag: flag},
               __runtime__: [timeout: 100]
             ) == {:error, :timeout}

      # The caller stops waiting 100 ms past the deadline; on a loaded machine the
      # interrupted thread may run its finally after that.
      assert eventually(fn -> Ref.getattr(flag, "stopped") == {:ok, true} end, timeout: 10_000)
      assert SnakeBridge.eval("6 * 7") == {:ok, 42}
    end

    test "runs in the session given" do
      {:ok, session} = SnakeBridge.Session.start(affinity: :thread)
      opts = [__runtime__: [session_id: session]]
      thread = SnakeBridge.eval!("__import__('threading').get_ident()", %{}, opts)

      assert SnakeBridge.eval!("__import__('threading').get_ident()", %{}, opts) == thread

      assert {:ok, %{"o" => %Ref{session_id: ^session}}} =
               SnakeBridge.eval("o = object()", %{}, opts)

      :ok = SnakeBridge.Session.release(session)
    end
  end

  describe "SnakeBridge.reload/2" do
    setup do
      dir = tmp_dir!("sb_reload")
      {:ok, _} = SnakeBridge.call("sys", "path.insert", [0, dir])
      on_exit(fn -> SnakeBridge.call("sys", "path.remove", [dir]) end)
      %{dir: dir, name: "sb_reload_#{System.unique_integer([:positive])}"}
    end

    test "runs the edited source", %{dir: dir, name: name} do
      file = Path.join(dir, name <> ".py")
      File.write!(file, "def value():\n    return 1\n")
      assert SnakeBridge.call(name, "value") == {:ok, 1}
      {:ok, module} = SnakeBridge.call("importlib", "import_module", [name])

      # A bytecode cache of the old source (written here: PYTHONDONTWRITEBYTECODE may be
      # set), then an edit of the same size and mtime (seconds): Python would take the
      # cache as current; reload/1 drops it.
      {:ok, _} = SnakeBridge.call("py_compile", "compile", [file])
      assert SnakeBridge.getattr!(name, "__cached__") |> File.exists?()
      %{mtime: mtime} = File.stat!(file, time: :posix)
      File.write!(file, "def value():\n    return 2\n")
      File.touch!(file, mtime)
      assert SnakeBridge.reload(name) == :ok
      assert SnakeBridge.call(name, "value") == {:ok, 2}
      # the module object is the same one: a ref to it sees the new code
      assert Ref.method(module, "value") == {:ok, 2}

      File.write!(file, "def value():\n    return 3\n\ndef added():\n    return 'new'\n")
      assert SnakeBridge.reload(name) == :ok
      assert SnakeBridge.call(name, "value") == {:ok, 3}
      assert SnakeBridge.call(name, "added") == {:ok, "new"}
    end

    test "a broken edit is an error and the module keeps its old code", %{dir: dir, name: name} do
      file = Path.join(dir, name <> ".py")
      File.write!(file, "def value():\n    return 'old'\n")
      assert SnakeBridge.call(name, "value") == {:ok, "old"}

      File.write!(file, "def value(:\n")

      assert {:error, %PythonError{type: "SyntaxError"} = e} = SnakeBridge.reload(name)
      assert Exception.message(e) =~ name
      assert SnakeBridge.call(name, "value") == {:ok, "old"}
    end

    test "a module not imported yet is imported; a missing one is an error", %{
      dir: dir,
      name: name
    } do
      File.write!(Path.join(dir, name <> ".py"), "LOADED = True\n")
      assert SnakeBridge.reload(name) == :ok
      assert SnakeBridge.getattr(name, "LOADED") == {:ok, true}

      assert {:error, %PythonError{type: "ModuleNotFoundError"}} =
               SnakeBridge.reload("no_such_module_sb_reload")

      assert_raise ArgumentError, ~r/SnakeBridge.reload\/2: module must be/, fn ->
        SnakeBridge.reload(:json)
      end
    end
  end

  describe "enumerating a Ref in batches" do
    test "every value once, in order, and the right count" do
      range = SnakeBridge.call!("builtins", "range", [1_000_000])
      assert Enum.sum(range) == 499_999_500_000
      assert Enum.reduce(range, 0, fn _, n -> n + 1 end) == 1_000_000
      assert Enum.to_list(range) == Enum.to_list(0..999_999)

      odd = SnakeBridge.call!("builtins", "range", [1, 5000, 2])
      assert Enum.to_list(odd) == Enum.to_list(1..4999//2)
      assert Enum.take(odd, 3) == [1, 3, 5]
      # each enumeration starts afresh
      assert Enum.sum(odd) == 6_250_000
      assert Enum.at(odd, 1000) == 2001
    end

    test "halting and suspending (zip) work at any batch boundary" do
      a = SnakeBridge.call!("builtins", "range", [3000])
      b = SnakeBridge.call!("builtins", "list", [Enum.to_list(3000..1//-1)])

      assert Enum.zip(a, b) |> length() == 3000
      assert Enum.zip(a, b) |> Enum.take(2) == [{0, 3000}, {1, 2999}]
      assert Enum.zip(a, b) |> List.last() == {2999, 1}

      for n <- [1, 2, 3, 4, 7, 8, 1023, 1024, 1025, 2047, 2048, 2049] do
        assert Enum.take(a, n) == Enum.to_list(0..(n - 1))
      end

      assert Enum.find(a, &(&1 == 2500)) == 2500
    end

    test "items are pulled ahead at most about twice as many as used" do
      %{"c" => counted} =
        SnakeBridge.eval!("""
        class Counted:
            produced = 0
            def __iter__(self):
                for i in range(10_000):
                    self.produced += 1
                    yield i
        c = Counted()
        """)

      assert Enum.take(counted, 1) == [0]
      assert Ref.getattr!(counted, "produced") == 1
      :ok = Ref.setattr(counted, "produced", 0)

      assert Enum.take(counted, 100) == Enum.to_list(0..99)
      assert Ref.getattr!(counted, "produced") <= 200
    end

    test "an object that is its own iterator (a file) is stepped one item at a time" do
      path = Path.join(tmp_dir!("sb_refiter"), "lines.txt")
      File.write!(path, Enum.map_join(1..5, &"line #{&1}\n"))
      file = SnakeBridge.call!("builtins", "open", [path])

      assert Enum.take(file, 2) == ["line 1\n", "line 2\n"]
      # the file's own position moved by exactly two lines
      assert Ref.method!(file, "readline") == "line 3\n"
      assert Enum.to_list(file) == ["line 4\n", "line 5\n"]
      Ref.method!(file, "close")
    end

    test "an exception during enumeration raises after the items before it" do
      %{"boom" => boom} =
        SnakeBridge.eval!("""
        class Boom:
            def __iter__(self):
                yield from range(5)
                raise RuntimeError("after five")
        boom = Boom()
        """)

      parent = self()

      assert_raise PythonError, ~r/\ARuntimeError: after five/, fn ->
        Enum.each(boom, &send(parent, {:item, &1}))
      end

      for i <- 0..4, do: assert_received({:item, ^i})
    end
  end
end
