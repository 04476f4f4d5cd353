defmodule SnakeBridge.LibraryNamesTest do
  # Generated wrappers over names and signatures Python reports oddly
  # (test/support/python/sb_library_names.py): metaclass and decorator signatures, a
  # class under two names, underscored class names, reserved words; no warnings.
  # Not async: the warnings are read from stderr, which other tests write to.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO

  alias SnakeBridge.TestLib.Names

  test "a metaclass's __call__(*args, **kwargs) gives the unknown-signature shape" do
    with_meta = Names.WithMeta
    assert {:ok, ref} = with_meta.new(5)
    assert with_meta.value!(ref) == 5
    assert with_meta.value!(with_meta.new!(5, 3)) == 15
    assert with_meta.value!(with_meta.new!(5, scale: 2)) == 10
    assert {:new, 8, "__init__(*args, **kwargs)"} in with_meta.__functions__()
  end

  test "a decorator without functools.wraps: unknown shape; with it, the real signature" do
    assert Names.wrapped(1) == {:ok, [1, 2]}
    assert Names.wrapped(1, 3) == {:ok, [1, 3]}
    assert Names.wrapped(1, b: 5) == {:ok, [1, 5]}

    assert Names.kept(1) == {:ok, [1, 2]}
    assert Names.kept(1, 3) == {:ok, [1, 3]}
    assert {:kept, 3, "kept(a, b=2)"} in Names.__functions__()

    assert_raise ArgumentError, ~r/unknown keyword argument :c/, fn -> Names.kept(1, c: 1) end
  end

  test "a class under two Python names: one module, listed under both" do
    flag = Names.Flag
    assert {flag, "flag"} in Names.__classes__()
    assert {flag, "flag_"} in Names.__classes__()
    assert flag.on!(flag.new!(false)) == false
    refute Code.ensure_loaded?(Module.concat(Names, "Flag_"))
  end

  test "a class named __like_this__: its instance variable has no leading underscore" do
    assert [{dunder, "__dunder_like__"}] =
             Enum.filter(Names.__classes__(), &(elem(&1, 1) == "__dunder_like__"))

    assert dunder == Module.concat(Names, DunderLike)
    assert dunder.info!(dunder.new!()) == "info"
  end

  test "reserved words keep their py_ prefix, as names and as parameters" do
    assert Names.py_when(1) == {:ok, 1}
    assert Names.py_nil() == {:ok, nil}
    assert Names.py_fn(1) == {:ok, [1, 1]}
    assert Names.py_fn(1, do: 3) == {:ok, [1, 3]}
    assert Names.py_fn(1, 2) == {:ok, [1, 2]}
    assert Names.log(8, 2) == {:ok, 3.0}
  end

  test "compiles without warnings" do
    name = Module.concat(__MODULE__, "Again#{System.unique_integer([:positive])}")

    warnings =
      capture_io(:stderr, fn ->
        Code.compile_quoted(
          quote do
            defmodule unquote(name) do
              use SnakeBridge.Library, python: "sb_library_names"
            end
          end
        )
      end)

    assert warnings == ""
  end

  test "two different classes that would become one module: a compile error naming both" do
    error =
      assert_raise CompileError, fn ->
        Code.compile_string(
          ~s(defmodule SnakeBridge.LibraryNamesTest.Clash do\n use SnakeBridge.Library, python: "sb_library_clash_classes"\nend),
          "names_case.ex"
        )
      end

    assert Exception.message(error) =~
             ~r/names_case.ex:2: .*the Python classes Foo and foo would both become the module SnakeBridge.LibraryNamesTest.Clash.Foo/

    Code.compile_string(
      ~s(defmodule SnakeBridge.LibraryNamesTest.NoClash do\n use SnakeBridge.Library, python: "sb_library_clash_classes", except: ["foo"]\nend)
    )

    # (named through a variable: the module does not exist when this file compiles)
    no_clash = SnakeBridge.LibraryNamesTest.NoClash
    assert [{_, "Foo"}] = no_clash.__classes__()
  end
end
