defmodule SnakeBridge.LibraryScaleTest do
  # A generated wrapper at library scale: a Python module of 2000 functions of mixed
  # signatures (required, defaults, keyword-only, *args, **kwargs) and a few classes,
  # written to a temporary directory on sys.path, compiles without warnings within a
  # generous bound; its calls, docs, specs and classes work.
  # Not async: the warnings are read from stderr, which other tests write to.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  @functions 2000
  @classes 4
  # Measured here at about 5 s of CPU; the machine's other load can triple the wall time.
  @bound_ms 400_000

  @tag timeout: 900_000
  test "2000 functions and #{@classes} classes: no warnings, calls, docs, specs, classes" do
    dir = tmp_dir!("sb_scale")
    python = "sb_scale_#{System.unique_integer([:positive])}"
    File.write!(Path.join(dir, python <> ".py"), source(@functions, @classes))
    {:ok, _} = SnakeBridge.call("sys", "path.insert", [0, dir])
    {:ok, _} = SnakeBridge.call("importlib", "invalidate_caches", [])
    on_exit(fn -> SnakeBridge.call("sys", "path.remove", [dir]) end)

    mod = Module.concat(__MODULE__, "Scale")
    started = System.monotonic_time(:millisecond)

    {modules, warnings} =
      with_io(:stderr, fn ->
        Code.compile_quoted(
          quote do
            defmodule unquote(mod) do
              use SnakeBridge.Library, python: unquote(python)
            end
          end
        )
      end)

    ms = System.monotonic_time(:millisecond) - started
    IO.puts("\n[measure] use SnakeBridge.Library of #{@functions} functions: #{ms} ms")
    assert warnings == ""
    assert ms < @bound_ms
    assert length(modules) == 1 + @classes

    # Calls, every shape (function i has shape rem(i, 5)), bang variants.
    assert mod.f0(1) == {:ok, 2}
    assert mod.f1995(1, 5) == {:ok, 2001}
    assert mod.f1995(1, b: 5) == {:ok, 2001}
    assert mod.f1995!(1, 5, []) == 2001
    assert mod.f1(1, key: 2) == {:ok, [1, 2, false, 1]}

    assert_raise ArgumentError, ~r/missing the required keyword argument :key/, fn ->
      mod.f1(1)
    end

    assert mod.f1997(1, __args__: [2], x: 3) == {:ok, [1, [2], %{"x" => 3}, 1997]}
    assert mod.f1998(1.0) == {:ok, 1999.0}
    assert mod.f1998(1.0, 2.0, 3.0) == {:ok, 2004.0}
    assert mod.f1998!(1.0, z: 3.0) == 2002.0
    assert mod.f1999(1, 2) == {:ok, [1, 2, 1999]}
    refute function_exported?(mod, :f1999, 1)
    # Arities listed (bangs not): 3, 2, 2, 4 and 2 for the five shapes.
    assert length(mod.__functions__()) == div(13 * @functions, 5)

    # Classes.
    shape = Module.concat(mod, "Shape3")
    assert {shape, "Shape3"} in mod.__classes__()
    s = shape.new!(4)
    assert shape.area(s) == {:ok, 16.0}
    assert shape.area!(s, 0.5) == 8.0
    assert shape.label!(s) == "x3"
    assert shape.unit() == {:ok, 3}

    # Docs and specs, from the .beam files.
    beams = tmp_dir!("sb_scale_beams")

    for {m, binary} <- modules,
        do: File.write!(Path.join(beams, "#{m}.beam"), binary)

    {:docs_v1, _, _, _, _, _, docs} = Code.fetch_docs(Path.join(beams, "#{mod}.beam"))

    assert {_, _, _, %{"en" => doc}, _} =
             Enum.find(docs, &match?({{:function, :f1995, 1}, _, _, _, _}, &1))

    assert doc =~ "#{python}.f1995(a: int, b: int = 1) -> int"
    assert doc =~ "Function 1995."

    {:docs_v1, _, _, _, %{"en" => shape_doc}, _, _} =
      Code.fetch_docs(Path.join(beams, "#{shape}.beam"))

    assert shape_doc =~ "Class 3."

    {_, binary} = List.keyfind(modules, mod, 0)
    {:ok, specs} = Code.Typespec.fetch_specs(binary)
    {_, [spec]} = List.keyfind(specs, {:f1995, 3}, 0)

    assert Macro.to_string(Code.Typespec.spec_to_quoted(:f1995, spec)) ==
             "f1995(integer(), integer(), keyword()) :: {:ok, integer()} | {:error, SnakeBridge.Error.reason()}"
  end

  @doc false
  # The Python source: function i has the shape rem(i, 5); class k has a constructor
  # with a default, a method with a default, a static method and an attribute.
  def source(functions, classes) do
    fns =
      for i <- 0..(functions - 1) do
        case rem(i, 5) do
          0 ->
            "def f#{i}(a: int, b: int = 1) -> int:\n    \"\"\"Function #{i}.\"\"\"\n    return a + b + #{i}\n"

          1 ->
            "def f#{i}(a, *, key, flag=False):\n    \"\"\"Function #{i}.\"\"\"\n    return [a, key, flag, #{i}]\n"

          2 ->
            "def f#{i}(a, /, *args, **kw) -> list:\n    \"\"\"Function #{i}.\"\"\"\n    return [a, list(args), kw, #{i}]\n"

          3 ->
            "def f#{i}(x: float, y: float = 0.0, z: float = 0.0) -> float:\n    return x + y + z + #{i}\n"

          4 ->
            "def f#{i}(a, b):\n    return [a, b, #{i}]\n"
        end
      end

    cls =
      for k <- 0..(classes - 1) do
        """
        class Shape#{k}:
            \"\"\"Class #{k}.\"\"\"

            def __init__(self, size: int, label: str = "x#{k}"):
                self.size = size
                self.label = label

            def area(self, scale: float = 1.0) -> float:
                \"\"\"The area, scaled.\"\"\"
                return float(self.size * self.size) * scale

            @staticmethod
            def unit() -> int:
                return #{k}
        """
      end

    Enum.join(fns ++ cls, "\n\n")
  end
end
