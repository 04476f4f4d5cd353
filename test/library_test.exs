defmodule SnakeBridge.LibraryTest do
  # Generated wrappers (use SnakeBridge.Library) over test/support/python/sb_library.py
  # and the stdlib: every signature shape, classes, streaming, docs, specs, errors.
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  alias SnakeBridge.{Ref, StreamRef}
  alias SnakeBridge.Library.CompileOptions
  alias SnakeBridge.TestLib.{Json, Lib, Math, Slow}
  alias SnakeBridge.TestLib.Lib.{Other, Point, Point3}

  describe "stdlib" do
    test "json and math" do
      assert Json.dumps(%{"a" => 1}) == {:ok, ~s({"a": 1})}
      assert Json.dumps(%{"a" => 1}, sort_keys: true, indent: 2) == {:ok, ~s({\n  "a": 1\n})}
      assert Json.loads!(~s([1, 2])) == [1, 2]
      assert Math.sqrt(2.0) == {:ok, :math.sqrt(2.0)}
      assert Math.sqrt!(16) == 4.0
      assert Math.pi() == :math.pi()
      assert Math.inf() == :infinity
    end

    test "a function whose signature Python cannot report takes 0..8 arguments" do
      # math.log has no inspect.signature
      assert Math.log(8, 2) == {:ok, 3.0}
      assert {:ok, _} = Math.log(8)

      assert {:log, 8, _} =
               List.keyfind(Enum.filter(Math.__functions__(), &(elem(&1, 1) == 8)), :log, 0)

      assert {:error, %SnakeBridge.PythonError{type: "TypeError"}} = Math.log()
    end

    test "Code.fetch_docs/1 shows the docstrings under the Python signature" do
      {:docs_v1, _, :elixir, _, %{"en" => moduledoc}, _, docs} = Code.fetch_docs(Json)
      assert moduledoc =~ "JSON (JavaScript Object Notation)"

      assert {_, _, _, %{"en" => doc}, _} =
               Enum.find(docs, &match?({{:function, :dumps, 2}, _, _, _, _}, &1))

      assert doc =~ "json.dumps(obj, *, skipkeys=False"
      assert doc =~ "Serialize ``obj`` to a JSON formatted ``str``."

      {:docs_v1, _, _, _, _, _, docs} = Code.fetch_docs(Lib)

      assert {_, _, _, %{"en" => doc}, _} =
               Enum.find(docs, &match?({{:function, :add, 3}, _, _, _, _}, &1))

      assert doc =~ "sb_library.add(a: int, b: int) -> int"
      assert doc =~ "Adds two integers."
      {:docs_v1, _, _, _, %{"en" => point_doc}, _, _} = Code.fetch_docs(Point)
      assert point_doc =~ "A point in the plane."
    end
  end

  describe "functions" do
    test "required positionals: f(a, b, opts \\\\ []) and f!" do
      assert Lib.add(1, 2) == {:ok, 3}
      assert Lib.add(1, 2, []) == {:ok, 3}
      assert Lib.add!(1, 2) == 3
      assert Lib.add(1, 2, __runtime__: [timeout: 5_000]) == {:ok, 3}
      refute function_exported?(Lib, :add, 1)
      assert_raise SnakeBridge.PythonError, ~r/TypeError/, fn -> Lib.add!(1, "x") end
    end

    test "parameters with defaults: one function per prefix, a keyword list last is opts" do
      assert Lib.scale(1.0) == {:ok, 2.0}
      assert Lib.scale(1.0, 3.0) == {:ok, 3.0}
      assert Lib.scale(1.0, 3.0, 1.0) == {:ok, 4.0}
      assert Lib.scale(1.0, 3.0, 1.0, []) == {:ok, 4.0}
      assert Lib.scale(1.0, factor: 5.0) == {:ok, 5.0}
      assert Lib.scale(1.0, 3.0, offset: 1.0) == {:ok, 4.0}
      assert Lib.scale(1.0, []) == {:ok, 2.0}
      assert Lib.scale!(2.0, 2.0) == 4.0
    end

    test "positional-only parameters" do
      assert Lib.pos_only(1) == {:ok, [1, 10]}
      assert Lib.pos_only(1, 2) == {:ok, [1, 2]}

      assert_raise ArgumentError, ~r/unknown keyword argument :b/, fn ->
        Lib.pos_only(1, b: 2)
      end
    end

    test "keyword-only parameters: a missing required one raises before Python runs" do
      assert Lib.kw(1, required: 2) == {:ok, %{"a" => 1, "required" => 2, "optional" => "opt"}}
      assert {:ok, %{"optional" => "x"}} = Lib.kw(1, required: 2, optional: "x")

      assert_raise ArgumentError,
                   ~r/Lib.kw: missing the required keyword argument :required/,
                   fn ->
                     Lib.kw(1)
                   end

      assert_raise ArgumentError, ~r/:required/, fn -> Lib.kw!(1, optional: "x") end
    end

    test "an unknown keyword argument raises unless the function takes **kwargs" do
      assert_raise ArgumentError, ~r/Lib.add: unknown keyword argument :c; .* :a, :b/, fn ->
        Lib.add(1, 2, c: 3)
      end

      assert Lib.kwargs(1, x: 2, y: "z") == {:ok, %{"a" => 1, "extra" => %{"x" => 2, "y" => "z"}}}
    end

    test "*args: extra positionals under __args__" do
      assert Lib.varargs(1) == {:ok, [1, []]}
      assert Lib.varargs(1, __args__: [2, 3]) == {:ok, [1, [2, 3]]}
      # In the opts place, anything but a keyword list is one more positional.
      assert Lib.varargs(1, [2, 3]) == {:ok, [1, [[2, 3]]]}
      assert Lib.varargs!(1, "x") == [1, ["x"]]
    end

    test "every kind at once" do
      assert Lib.everything(1, 2, d: 4) == {:ok, [1, 2, 3, [], 4, 5, %{}]}

      assert Lib.everything(1, 2, 30, d: 4, e: 6, z: 9, __args__: [7]) ==
               {:ok, [1, 2, 30, [7], 4, 6, %{"z" => 9}]}

      assert_raise ArgumentError, ~r/:d/, fn -> Lib.everything(1, 2) end
    end

    test "a positional list that looks like opts can be passed with an explicit opts" do
      assert Lib.echo([a: 1], []) == {:ok, [{"a", 1}]}
      assert Lib.echo([]) == {:ok, []}
    end

    test "__runtime__ options are checked as for call/4" do
      assert_raise ArgumentError, ~r/unknown __runtime__ option :bogus/, fn ->
        Lib.add(1, 2, __runtime__: [bogus: 1])
      end
    end

    test "a generator function returns a StreamRef" do
      assert {:ok, %StreamRef{} = s} = Lib.generate("x")
      assert Enum.to_list(s) == [0, 1, 2]
      assert {:ok, %StreamRef{} = s} = Lib.generate("x", stream: true, count: 2)
      assert Enum.to_list(s) == ["x-0", "x-1"]
    end

    test "constants are zero-arity functions; private names are left out" do
      assert Lib.answer() == 42
      assert Lib.greeting() == "hello"
      refute function_exported?(Lib, :_private, 0)
      refute function_exported?(Lib, :private, 0)
    end

    test "reserved words get py_" do
      assert Lib.py_end(1) == {:ok, 2}
      refute function_exported?(Lib, :end, 1)
    end

    test "except: leaves a function out" do
      refute function_exported?(Lib, :fail, 1)
      assert function_exported?(Slow, :echo, 1)
      refute function_exported?(Slow, :add, 2)
      refute Code.ensure_loaded?(Slow.Point)
    end

    test "__functions__/0 and __classes__/0" do
      functions = Lib.__functions__()
      assert {:add, 2, "add(a: int, b: int) -> int"} in functions
      assert {:add, 3, "add(a: int, b: int) -> int"} in functions
      assert {:answer, 0, "ANSWER"} in functions
      assert {Point, "Point"} in Lib.__classes__()
      assert {Other, "Other"} in Lib.__classes__()
      assert {:new, 1, _} = List.keyfind(Point.__functions__(), :new, 0)
    end

    test "__mix_recompile__? is false while the Python source is there" do
      refute Lib.__mix_recompile__?()
      refute Json.__mix_recompile__?()
    end
  end

  describe "specs" do
    defp spec_string(module, name, arity) do
      {:ok, specs} = Code.Typespec.fetch_specs(module)
      {_, [spec | _]} = List.keyfind(specs, {name, arity}, 0)

      name
      |> Code.Typespec.spec_to_quoted(spec)
      |> Macro.to_string()
      |> String.replace(~r/\s+/, " ")
      |> String.replace("( ", "(")
      |> String.replace(" )", ")")
    end

    test "from annotations" do
      assert spec_string(Lib, :add, 3) ==
               "add(integer(), integer(), keyword()) :: {:ok, integer()} | {:error, SnakeBridge.Error.reason()}"

      assert spec_string(Lib, :add!, 3) == "add!(integer(), integer(), keyword()) :: integer()"

      assert spec_string(Lib, :typed, 4) =~
               "typed([integer()], %{optional(String.t()) => float()}, String.t() | nil, keyword()) :: {:ok, [String.t()]}"

      assert spec_string(Lib, :numbers, 2) =~ "{:ok, SnakeBridge.StreamRef.t()}"
      assert spec_string(Lib, :generate, 1) =~ "{:ok, SnakeBridge.StreamRef.t()}"
      assert spec_string(Lib, :make_point, 3) =~ "{:ok, SnakeBridge.TestLib.Lib.Point.t()}"
      assert spec_string(Lib, :scale, 2) =~ "scale(float(), float() | keyword())"

      assert spec_string(Point, :new, 1) ==
               "new(float()) :: {:ok, t()} | {:error, SnakeBridge.Error.reason()}"

      assert spec_string(Point, :norm, 2) ==
               "norm(t(), keyword()) :: {:ok, float()} | {:error, SnakeBridge.Error.reason()}"

      assert spec_string(Point, :as_tuple, 1) =~ "{:ok, {float(), float()}}"
      assert {:ok, [{:opaque, {:t, _, []}}]} = Code.Typespec.fetch_types(Point)
    end
  end

  describe "classes" do
    test "new, methods, getters, properties, class and static methods" do
      assert {:ok, %Ref{type_name: "Point"} = p} = Point.new(3.0, 4.0)
      assert Point.norm(p) == {:ok, 5.0}
      assert Point.norm!(p) == 5.0
      assert Point.x(p) == {:ok, 3.0}
      assert Point.y!(p) == 4.0
      assert Point.dims!(p) == 2
      assert Point.as_tuple(p) == {:ok, {3.0, 4.0}}

      assert {:ok, q} = Point.moved(p, 1)
      assert Point.as_tuple!(q) == {4.0, 4.0}
      assert Point.as_tuple!(Point.moved!(p, 1, 2, scale: 2)) == {5.0, 8.0}

      assert {:ok, origin} = Point.origin()
      assert Point.as_tuple!(origin) == {0, 0}
      assert Point.distance(p, origin) == {:ok, 5.0}
      assert Point.y!(Point.new!(1.0)) == 0.0
    end

    test "a subclass's instance is accepted; another class's Ref is a clear error" do
      p3 = Point3.new!(3.0, 4.0, 5.0)
      assert Point.norm(p3) == {:ok, 5.0}
      assert Point.x(p3) == {:ok, 3.0}
      assert Point3.z!(p3) == 5.0

      other = Other.new!()

      assert_raise ArgumentError,
                   ~r/Point.norm: expected an instance of the Python class sb_library.Point, got a Ref to a sb_library.Other/,
                   fn -> Point.norm(other) end

      assert_raise ArgumentError, ~r/Point.x: expected an instance/, fn -> Point.x(other) end
      assert_raise ArgumentError, ~r/got: 5/, fn -> Point.norm(5) end
    end
  end

  describe "streaming variant" do
    test "the seed's forms" do
      parent = self()

      callback = fn chunk ->
        send(parent, {:chunk, chunk})
        :ok
      end

      assert :ok = Lib.generate_stream("input", [stream: true, count: 10], callback)
      chunks = for _ <- 0..9, do: receive(do: ({:chunk, c} -> c), after: (0 -> nil))
      assert chunks == for(i <- 0..9, do: "input-#{i}")

      assert Lib.generate_stream("input", __runtime__: [stream_timeout: 300_000]) ==
               {:ok, [0, 1, 2]}

      assert Lib.generate_stream("input", __runtime__: [stream_timeout: :infinity]) ==
               {:ok, [0, 1, 2]}

      assert :ok = Lib.generate_stream("in", callback)
      assert_received {:chunk, 0}
      assert Lib.generate_stream("in") == {:ok, [0, 1, 2]}
      assert Lib.generate_stream("in", count: 1) == {:ok, [0]}
    end

    test "halt, timeouts and the module's runtime: defaults" do
      assert :ok = Lib.generate_stream("x", [count: 100], fn _ -> :halt end)

      assert Lib.slow_generate_stream(100, [__runtime__: [stream_timeout: 100]], fn _ -> :ok end) ==
               {:error, :timeout}

      # Slow has runtime: [stream_timeout: 100]; an explicit option wins.
      assert Slow.slow_generate_stream(100) == {:error, :timeout}
      assert Slow.slow_generate_stream(2, __runtime__: [stream_timeout: 5_000]) == {:ok, [0, 1]}

      assert_raise ArgumentError, ~r/unknown keyword argument :bogus/, fn ->
        Lib.generate_stream("x", bogus: 1)
      end
    end
  end

  describe "compile errors" do
    defp compile(code), do: Code.compile_string(code, "library_case.ex")

    test "a Python module that cannot be imported: the Python error and the file/line of the use" do
      error =
        assert_raise CompileError, fn ->
          compile("""
          defmodule SnakeBridge.LibraryTest.Missing do

            use SnakeBridge.Library, python: "no_such_module_sb"
          end
          """)
        end

      message = Exception.message(error)
      assert message =~ "library_case.ex:3"
      assert message =~ "ModuleNotFoundError: No module named 'no_such_module_sb'"

      error =
        assert_raise CompileError, fn ->
          compile(
            ~s(defmodule SnakeBridge.LibraryTest.Broken do\n use SnakeBridge.Library, python: "sb_library_clash.nope" end)
          )
        end

      assert Exception.message(error) =~ "ModuleNotFoundError"
    end

    test "two Python names that become one function" do
      error =
        assert_raise CompileError, fn ->
          compile(
            ~s(defmodule SnakeBridge.LibraryTest.Clash do\n use SnakeBridge.Library, python: "sb_library_clash"\nend)
          )
        end

      assert Exception.message(error) =~
               ~r/library_case.ex:2: .*the Python names (do and py_do|py_do and do) would both become the function py_do/

      compile(
        ~s(defmodule SnakeBridge.LibraryTest.NoClash do\n use SnakeBridge.Library, python: "sb_library_clash", except: ["py_do"]\nend)
      )

      no_clash = SnakeBridge.LibraryTest.NoClash
      assert no_clash.py_do() == {:ok, 1}
    end

    test "bad options" do
      assert_raise CompileError, ~r/has no public function, class or constant named nope/, fn ->
        compile(
          ~s(defmodule SnakeBridge.LibraryTest.Only do\n use SnakeBridge.Library, python: "json", only: [:nope]\nend)
        )
      end

      assert_raise CompileError, ~r/streaming: loads_x is not a generated function/, fn ->
        compile(
          ~s(defmodule SnakeBridge.LibraryTest.St do\n use SnakeBridge.Library, python: "json", streaming: [:loads_x]\nend)
        )
      end

      assert_raise CompileError, ~r/python: must be a module name string/, fn ->
        compile(
          ~s(defmodule SnakeBridge.LibraryTest.Py do\n use SnakeBridge.Library, python: :json\nend)
        )
      end
    end

    test "classes: false and only:" do
      compile(
        ~s(defmodule SnakeBridge.LibraryTest.OnlyAdd do\n use SnakeBridge.Library, python: "sb_library", only: ["add", "Point"]\nend)
      )

      {only_add, only_point} =
        {SnakeBridge.LibraryTest.OnlyAdd, SnakeBridge.LibraryTest.OnlyAdd.Point}

      assert only_add.add(1, 1) == {:ok, 2}
      refute function_exported?(only_add, :scale, 1)
      assert {:ok, _} = only_point.new(1.0)

      compile(
        ~s(defmodule SnakeBridge.LibraryTest.NoClasses do\n use SnakeBridge.Library, python: "sb_library", classes: false\nend)
      )

      no_classes = SnakeBridge.LibraryTest.NoClasses
      assert no_classes.__classes__() == []
      refute Code.ensure_loaded?(SnakeBridge.LibraryTest.NoClasses.Point)
    end
  end

  describe "compiling" do
    # Sends the min_heap_size of the process compiling a module (a core transform runs
    # there) to the process registered under the `probe_to:` compile option's name.
    defmodule HeapProbe do
      def core_transform(core, options) do
        send(options[:probe_to], {:min_heap_size, Process.info(self(), :min_heap_size)})
        core
      end
    end

    defp compile_probed(name, behaviour?) do
      defs = for i <- 1..300, do: quote(do: def(unquote(:"f#{i}")(x), do: {x, unquote(i)}))

      body =
        quote do
          @compile [core_transform: HeapProbe, probe_to: :sb_heap_probe]
          unquote(if behaviour?, do: quote(do: @behaviour(SnakeBridge.Library.CompileOptions)))
          def __functions__, do: []
          unquote_splicing(defs)
        end

      Code.compile_quoted(quote(do: defmodule(unquote(name), do: unquote(body))))
      assert_received {:min_heap_size, {:min_heap_size, words}}
      words
    end

    test "generated modules size the heap of the process compiling them, and only it" do
      for module <- [Json, Lib, Point],
          do: assert(module.module_info(:attributes)[:behaviour] == [CompileOptions])

      Process.register(self(), :sb_heap_probe)
      sized = compile_probed(SnakeBridge.LibraryTest.HeapSized, true)
      plain = compile_probed(SnakeBridge.LibraryTest.HeapPlain, false)
      {:min_heap_size, default} = :erlang.system_info(:min_heap_size)
      assert plain == default
      assert sized > 100 * default and sized <= 16_000_000

      # Called from elsewhere (not while Elixir compiles a module), no side effect.
      {:min_heap_size, before} = Process.info(self(), :min_heap_size)
      assert CompileOptions.behaviour_info(:callbacks) == [__functions__: 0]
      assert Process.info(self(), :min_heap_size) == {:min_heap_size, before}
    end
  end

  describe "mix snakebridge.gen" do
    test "writes the same module as a source file that compiles" do
      dir = tmp_dir!("sb_gen")
      path = Path.join(dir, "gen_lib.ex")
      Mix.shell(Mix.Shell.Process)

      try do
        Mix.Tasks.Snakebridge.Gen.run([
          "sb_library",
          "--out",
          path,
          "--module",
          "SnakeBridge.LibraryTest.GenLib",
          "--streaming",
          "generate"
        ])
      after
        Mix.shell(Mix.Shell.IO)
      end

      assert_received {:mix_shell, :info, ["* wrote " <> _]}
      source = File.read!(path)
      assert source =~ "defmodule SnakeBridge.LibraryTest.GenLib do"
      assert source =~ ~s(@doc ~S""")
      refute source =~ "__mix_recompile__?"
      Code.compile_file(path)
      # (modules compiled by the test itself are named through variables: no warnings)
      gen_lib = SnakeBridge.LibraryTest.GenLib
      point = SnakeBridge.LibraryTest.GenLib.Point
      assert gen_lib.add(1, 2) == {:ok, 3}
      assert gen_lib.generate_stream("in", count: 2) == {:ok, [0, 1]}
      assert point.norm!(point.new!(3.0, 4.0)) == 5.0
      assert {:fail, 1, "fail(message)"} in gen_lib.__functions__()
    end
  end
end
