defmodule SnakeBridge.SigilTest do
  # ~PY (and ~P, the same sigil for Elixir 1.14, whose parser has one-letter sigils
  # only): Elixir variables in, the last expression's value out, assigned names bound.
  use ExUnit.Case, async: true

  import SnakeBridge.Sigil

  alias SnakeBridge.{PythonError, Sigil}

  doctest SnakeBridge.Complex

  test "the variables the code names are its globals; assigned names are bound" do
    xs = [3, 1, 2]
    unused = :not_sent

    result = ~P"""
    import statistics
    mean = statistics.mean(xs)
    ordered = sorted(xs)
    len(xs) * 10
    """

    assert result == 30
    assert mean == 2
    assert ordered == [1, 2, 3]
    # A module is bound too (a Ref), and an Elixir variable the code does not name stays.
    assert %SnakeBridge.Ref{} = statistics
    assert unused == :not_sent
  end

  test "a final statement gives nil; reassigned Elixir variables get Python's value" do
    n = 5
    ~P"n = n + 1" |> then(&assert(&1 == nil))
    assert n == 6

    # Names the code binds only inside functions or comprehensions are not bound; a
    # function defined at the top level is (a Ref).
    ~P"""
    def double(v):
        inner = v * 2
        return inner
    squares = [k * k for k in range(3)]
    """

    assert squares == [0, 1, 4]
    assert %SnakeBridge.Ref{} = double
    assert SnakeBridge.Ref.method!(double, "__call__", [4]) == 8
  end

  test "sigil_PY/2 is the same macro (Elixir 1.15+ writes it ~PY)" do
    a = 20
    b = 1
    assert sigil_PY(<<"c = a + b\nc * 2">>, []) == 42
    assert c == 21
  end

  test "values are converted as arguments and results are (Arrays, structs)" do
    t = ~N[2024-01-01 10:00:00]
    later = ~P"t + __import__('datetime').timedelta(hours=1)"
    assert later == ~N[2024-01-01 11:00:00]

    b = SnakeBridge.bytes("abc")
    assert ~P"b.hex()" == "616263"
  end

  test "a Python error raises PythonError naming the file and the line" do
    d = %{}

    error =
      assert_raise PythonError, fn ->
        ~P"""
        x = 1
        d['missing']
        """
      end

    assert error.type == "KeyError"
    # The line in this file (the second of the heredoc).
    line =
      1 + Enum.find_index(File.read!(__ENV__.file) |> String.split("\n"), &(&1 =~ "d['missing']"))

    assert error.traceback =~ "test/sigil_test.exs\", line #{line}", error.traceback
    # The line's text is shown (read from the Elixir file).
    assert error.traceback =~ "d['missing']"
  end

  test "a syntax error is a compile error at its line" do
    code = """
    defmodule SnakeBridge.SigilTest.Bad do
      import SnakeBridge.Sigil
      def f do
        ~P\"""
        x = 1
        y = (
        \"""
      end
    end
    """

    error = assert_raise CompileError, fn -> Code.compile_string(code, "bad.ex") end
    assert Exception.message(error) =~ "bad.ex:6"
    assert Exception.message(error) =~ "SyntaxError"
  end

  test "the scan without a running Python (a module compiled before the app starts)" do
    code = "import os\nz = os.sep + y\nfor i in range(2): pass\nlen(q)"
    assert Sigil.scan(code, "f.ex", 1, :subprocess) == Sigil.scan(code, "f.ex", 1)
    # Names read (also those assigned before, which a variable would only pre-set), and
    # names bound at the top level.
    assert {:ok, {["os", "q", "y"], ["i", "os", "z"]}} = Sigil.scan(code, "f.ex", 1, :subprocess)
    assert {:error, 3, "SyntaxError: " <> _} = Sigil.scan("x = (", "f.ex", 3, :subprocess)
  end
end
