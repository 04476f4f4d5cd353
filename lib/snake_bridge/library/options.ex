defmodule SnakeBridge.Library.Options do
  @moduledoc false
  # The options of `use SnakeBridge.Library` checked, and what they select from the
  # description: the generation context and the functions, constants and classes.

  alias SnakeBridge.Library.Generator.Error
  alias SnakeBridge.Library.Names

  @doc """
  `{ctx, selected}`: ctx has `:module`, `:python`, `:runtime`, `:classes` (Python class
  name => Elixir module) and `:source`; selected has `:functions`, `:constants`,
  `:classes` (descriptions) and `:streaming` (names). Raises `Error` for bad options.
  """
  def select!(desc, opts) do
    python = Keyword.fetch!(opts, :python)
    only = names(opts[:only], :only)
    except = names(opts[:except], :except) || []
    streaming = names(opts[:streaming], :streaming) || []
    ctx = context(opts, python)
    check_known!(desc, python, (only || []) ++ except)
    keep? = fn item -> (only == nil or item["name"] in only) and item["name"] not in except end
    # A class under several names (aliases): any of them in only:, none in except:.
    keep_class? = fn cls ->
      names = class_names(cls)
      (only == nil or Enum.any?(names, &(&1 in only))) and not Enum.any?(names, &(&1 in except))
    end

    classes = if ctx.classes, do: Enum.filter(desc["classes"], keep_class?), else: []
    functions = Enum.filter(desc["functions"], keep?)
    check_streaming!(streaming, functions, python)
    constants = Enum.filter(desc["constants"], keep?)

    selected = %{
      functions: functions,
      constants: constants,
      classes: classes,
      streaming: streaming
    }

    {%{ctx | classes: class_modules(classes, ctx.module)}, selected}
  end

  defp context(opts, python) do
    classes? = Keyword.get(opts, :classes, true)
    runtime = Keyword.get(opts, :runtime, [])
    unless is_boolean(classes?), do: fail("classes: must be true or false")

    unless Keyword.keyword?(runtime),
      do: fail("runtime: must be a keyword list of __runtime__ options")

    %{
      module: Keyword.fetch!(opts, :module),
      python: python,
      runtime: runtime,
      classes: classes?,
      source: Keyword.get(opts, :source, false)
    }
  end

  @doc "A described class's Python names: its own, then its aliases."
  def class_names(cls), do: [cls["name"] | Map.get(cls, "aliases", [])]

  # Two classes whose names become one module: a compile error naming both (one module
  # per class object; its aliases name the same one).
  defp class_modules(classes, module) do
    modules =
      Map.new(classes, &{&1["name"], Module.concat(module, Names.class_alias(&1["name"]))})

    modules
    |> Enum.group_by(&elem(&1, 1), &elem(&1, 0))
    |> Enum.each(fn
      {mod, [a, b | _]} ->
        fail(
          "the Python classes #{a} and #{b} would both become the module #{inspect(mod)} " <>
            "(use except: to leave one out)"
        )

      _ ->
        :ok
    end)

    modules
  end

  defp names(nil, _), do: nil

  defp names(list, key) when is_list(list) do
    Enum.map(list, fn
      n when is_binary(n) -> n
      n when is_atom(n) -> Atom.to_string(n)
      other -> fail("#{key}: takes names (strings or atoms), got: #{inspect(other)}")
    end)
  end

  defp names(other, key), do: fail("#{key}: must be a list of names, got: #{inspect(other)}")

  defp check_known!(desc, python, names) do
    all =
      Enum.map(desc["functions"] ++ desc["constants"], & &1["name"]) ++
        Enum.flat_map(desc["classes"], &class_names/1)

    for name <- names, name not in all do
      fail("#{inspect(python)} has no public function, class or constant named #{name}")
    end
  end

  defp check_streaming!(streaming, functions, python) do
    generated = Enum.map(functions, & &1["name"])

    for name <- streaming, name not in generated do
      fail("streaming: #{name} is not a generated function of #{inspect(python)}")
    end
  end

  defp fail(message), do: raise(Error, message)
end
