defmodule SnakeBridge.Library do
  @moduledoc """
  Generated wrappers: `use SnakeBridge.Library` turns a Python module into a documented,
  typespecced Elixir module.

      defmodule MyPython.Module do
        use SnakeBridge.Library, python: "my_module", streaming: ["generate"]
      end

      MyPython.Module.add(1, 2)                     # {:ok, 3}
      MyPython.Module.add!(1, 2)                    # 3
      MyPython.Module.generate_stream("input", [stream: true, count: 10], callback)

  The module is generated when your module compiles, from the embedded interpreter's own
  introspection (`inspect.signature`, docstrings, annotations): no subprocess, no
  generated file. Options:

    * `:python` (required) - the module to import, dotted allowed (`"os.path"`);
    * `:only` / `:except` - names (strings or atoms) of the functions, classes and
      constants to generate or to leave out;
    * `:streaming` - function names that also get a `name_stream` variant;
    * `:classes` - `false` to generate no class modules (`true` by default);
    * `:runtime` - default `__runtime__` options for every function of the module
      (`runtime: [timeout: 5_000]`, `runtime: [profile: :ml_inference]`); a call's own
      `__runtime__:` options win key by key.

  ## Functions

  For each public function of the module (its `__all__`, or the functions it defines):

    * required positional parameters are arguments, then `opts \\\\ []`: `f(a, b, opts \\\\ [])`;
    * parameters with defaults: one function per prefix, `f(a)`, `f(a, b)`,
      `f(a, b, opts)`; a keyword list in the last place (`[]` included) is taken as
      `opts` (`f(a, [x: 1])` is `f(a, opts)`);
    * `opts` holds keyword arguments by name (keyword-only ones, and positional ones given
      by name); a missing required keyword-only argument, or a name the function does not
      take (unless it has `**kwargs`), raises `ArgumentError` before Python is called;
    * `__args__: [...]` in `opts`: more positional arguments (for `*args`), appended;
      for a function with `*args`, anything but a keyword list in the `opts` place is
      one more positional argument;
    * `__runtime__: [...]` in `opts`, as for `SnakeBridge.call/4`;
    * a function whose signature Python cannot report (some C builtins), or reports
      only as `(*args, **kwargs)` (a metaclass's `__call__`, a decorator without
      `functools.wraps`), takes up to 8 positional arguments, and a keyword list in
      last place as `opts`.

  Every function returns what `SnakeBridge.call/4` returns; `f!` returns the value or
  raises. `@doc` is the docstring under the Python signature, `@spec` comes from the
  annotations (`int` → `integer()`, `float` → `float()`, `str` → `String.t()`, `bool` →
  `boolean()`, `None` → `nil`, `list[T]` → `[T]`, `dict[K, V]` → `%{optional(K) => V}`,
  `Optional[T]` → `T | nil`, `Iterator`/`Generator` (and generator functions) →
  `SnakeBridge.StreamRef.t()`, a generated class → its `t()`, anything else `term()`).

  Module-level constants (numbers, strings, `None`, tuples and lists of them) become
  zero-arity functions returning the value they had at compile time. Names that are
  Elixir reserved words (`do`, `end`, `fn`, `when`, `in`, `and`, `or`, `not`, `true`,
  `false`, `nil`, `after`, `else`, `catch`, `rescue`) get a `py_` prefix; capitalised
  names are snake_cased (`MAX_SIZE` → `max_size`). Two Python names that would become
  the same function are a compile error naming both (leave one out with `except:`).

  ## Streaming variant

  For each name in `streaming:`, `name_stream(required..., opts \\\\ [], callback)` runs
  the function through `SnakeBridge.stream/5`: the optional parameters go in `opts` by
  name, with `__runtime__: [stream_timeout: ...]`. Without a callback
  (`name_stream(required...)`, or `name_stream(required..., opts)`) the items are
  collected and returned as `{:ok, items}`:

      MyPython.Module.generate_stream("input", [stream: true, count: 10], fn chunk ->
        IO.inspect(chunk)
        :ok
      end)

      {:ok, items} = MyPython.Module.generate_stream("input", __runtime__: [stream_timeout: 300_000])

  ## Classes

  Each public class becomes a module nested in yours (`MyPython.Module.Point`): `new(...)`
  from `__init__`'s signature (the same shapes as functions), one function per public
  method taking the instance (a `SnakeBridge.Ref`) first, static and class methods
  without it, and a getter per attribute (class annotations, `self.x = ...` in
  `__init__`, class-level values) and property, each with a bang variant; `@opaque t`.
  A method called with a Ref of another class raises `ArgumentError` naming both classes
  (a subclass's instance is accepted). A class bound to several Python names gets one
  module, named after the name equal to its `__name__` (else the first in sorted
  order); two different classes whose names make one module are a compile error naming
  both.

  ## Introspection, recompilation, errors

  `__functions__/0` lists `{name, arity, python_signature}`, `__classes__/0` the class
  modules. Your module is recompiled when the Python source file changes
  (`@external_resource`) or the installed distribution's version changes
  (`__mix_recompile__?/0`). A module that cannot be imported fails compilation with the
  Python error and the file and line of the `use`.

  The `:snakebridge` application (the embedded Python) is started in the compiling VM.
  `mix snakebridge.gen` prints the same code as a source file.
  """

  alias SnakeBridge.Library.Generator

  @helper "snakebridge_library"

  defmacro __using__(opts) do
    caller = __CALLER__
    {opts, _} = Code.eval_quoted(opts, [], caller)
    python = python_name!(opts, caller)
    desc = describe!(python, caller)
    file = desc["file"]

    moduledoc =
      "Generated from the Python module `#{python}` (`use SnakeBridge.Library`)." <>
        if(desc["doc"], do: "\n\n" <> desc["doc"], else: "")

    quote do
      @moduledoc unquote(moduledoc)
      unquote(if file, do: quote(do: @external_resource(unquote(file))))

      unquote(body!(desc, Keyword.merge(opts, module: caller.module, python: python), caller))

      @doc false
      def __mix_recompile__? do
        unquote(recompile_check(file, get_in(desc, ["distribution", "path"])))
      end
    end
  end

  defp python_name!(opts, caller) do
    case Keyword.get(opts, :python) do
      name when is_binary(name) and name != "" ->
        name

      other ->
        compile_error!(caller, "python: must be a module name string, got: #{inspect(other)}")
    end
  end

  defp body!(desc, opts, caller) do
    Generator.body(desc, opts)
  rescue
    e in Generator.Error -> compile_error!(caller, e.message)
  end

  @doc false
  # The source of the module `module` wrapping `python` (mix snakebridge.gen): the code
  # the macro generates, formatted, with docs as heredocs.
  def source(python, module, opts) do
    desc = describe!(python)
    body = Generator.body(desc, Keyword.merge(opts, module: module, python: python, source: true))

    moduledoc =
      "Generated from the Python module `#{python}` by `mix snakebridge.gen`." <>
        if(desc["doc"], do: "\n\n" <> desc["doc"], else: "")

    quoted =
      quote do
        defmodule unquote(module) do
          @moduledoc unquote(
                       {:sigil_S, [delimiter: ~s(""")],
                        [{:<<>>, [], [String.trim_trailing(moduledoc) <> "\n"]}, []]}
                     )
          unquote(body)
        end
      end

    header = "# Generated by `mix snakebridge.gen #{python}` from #{desc["file"] || python}.\n"

    header <>
      (quoted |> Macro.to_string() |> Code.format_string!() |> IO.iodata_to_binary()) <> "\n"
  end

  # No Python here: Mix calls this on every compile.
  defp recompile_check(file, dist_path) do
    checks =
      for path <- [file, dist_path],
          is_binary(path),
          do: quote(do: not File.exists?(unquote(path)))

    Enum.reduce(checks, false, &quote(do: unquote(&2) or unquote(&1)))
  end

  defp compile_error!(caller, message) do
    raise CompileError,
      file: caller.file,
      line: caller.line,
      description: "use SnakeBridge.Library: " <> message
  end

  @doc false
  # The description of a Python module (see priv/python/snakebridge_library.py), made
  # by the embedded interpreter. Raises CompileError at `caller` when it cannot import it.
  def describe!(python, caller \\ nil) do
    ensure_python!(caller)

    case SnakeBridge.call(@helper, "describe", [python]) do
      {:ok, desc} ->
        desc

      {:error, reason} ->
        message =
          "cannot import the Python module #{inspect(python)}: " <>
            Exception.message(SnakeBridge.Error.to_exception(reason))

        if caller, do: compile_error!(caller, message), else: raise(ArgumentError, message)
    end
  end

  @doc false
  # The compiling VM needs the embedded Python. In a project that depends on
  # :snakebridge the application starts as usual. While :snakebridge itself compiles
  # (its own test support uses this macro) its .app is not written yet: Python is
  # started directly, with this app's priv/python on sys.path, and the application
  # start that follows reuses that interpreter.
  def ensure_python!(caller \\ nil) do
    with {:error, first} <- start_application(),
         {:error, reason} <- start_directly() do
      message = "cannot start the embedded Python: #{inspect(first)} / #{inspect(reason)}"
      if caller, do: compile_error!(caller, message), else: raise(message)
    else
      _ -> :ok
    end
  end

  @source_priv Path.expand("../../priv/python", __DIR__)

  # While :snakebridge compiles itself, its modules are being compiled alongside: the
  # application's start (in another process) could meet one not compiled yet, and a
  # failed ensure_all_started stops the applications it started (Logger among them).
  defp start_application do
    if self_compiling?(),
      do: {:error, :compiling_snakebridge},
      else: Application.ensure_all_started(:snakebridge)
  end

  defp self_compiling? do
    Code.ensure_loaded?(Mix.Project) and Mix.Project.get() != nil and
      Mix.Project.config()[:app] == :snakebridge and
      not :persistent_term.get({__MODULE__, :started}, false)
  end

  defp start_directly do
    with false <- :persistent_term.get({__MODULE__, :started}, false),
         {:ok, _} <-
           Code.ensure_loaded(SnakeBridge.Native) &&
             SnakeBridge.Application.start_python(python_dirs()) do
      :persistent_term.put({__MODULE__, :started}, true)
      :ok
    else
      true -> :ok
      other -> {:error, other}
    end
  end

  # The build's priv (a dependency) and, in this checkout, the source's priv (the
  # build's copy may not be made yet while the project compiles).
  defp python_dirs do
    built =
      case :code.priv_dir(:snakebridge) do
        {:error, _} -> []
        priv -> [Path.join(to_string(priv), "python")]
      end

    Enum.filter(built ++ [@source_priv], &File.dir?/1) |> Enum.uniq()
  end
end
