defmodule SnakeBridge.Library.Names do
  @moduledoc false
  # Python names as Elixir function, variable and module names, and the check that no
  # two of them become one function.

  alias SnakeBridge.Library.Generator.Error

  @reserved ~w(do end fn when in and or not true false nil after else catch rescue)
  @builtin ~w(__functions__ __classes__ __mix_recompile__? __info__ module_info)
  # Variables the generated clauses use themselves.
  @clause_vars ~w(opts callback)

  @doc "Elixir reserved words (a Python name among them gets `py_`)."
  def reserved, do: @reserved

  @doc """
  The function name of a Python name: reserved words get `py_`, a capitalised name (a
  constant such as `MAX_SIZE`) is snake_cased.
  """
  def function(py) when py in @reserved, do: String.to_atom("py_" <> py)

  def function(py) do
    name = if py =~ ~r/^[A-Z]/, do: Macro.underscore(py), else: py
    String.to_atom(name)
  end

  @doc "The nested module alias of a Python class name."
  def class_alias(py), do: py |> Macro.camelize() |> String.to_atom()

  @doc "A Python parameter name as an Elixir variable name not in `taken`."
  def var(py, taken) do
    base = if py in @reserved, do: "py_" <> py, else: Macro.underscore(py)
    # A leading underscore would mark the variable unused (a warning for every use).
    base =
      case String.trim_leading(base, "_") do
        "" -> "arg"
        trimmed -> trimmed
      end

    base = if base in @clause_vars, do: base <> "_", else: base
    if base in taken, do: base <> "_#{length(taken)}", else: base
  end

  @doc "The variable holding the instance in a class's functions."
  def self_var(class_name) do
    var =
      class_name
      |> Macro.underscore()
      |> String.replace(~r/[^a-z0-9_]/, "_")
      # A leading underscore marks a variable unused (`__array_namespace_info__`).
      |> String.trim_leading("_")

    if var in @reserved or var in @clause_vars or var == "" or var =~ ~r/^[0-9]/,
      do: "ref",
      else: var
  end

  @doc "Raises when two Python names of `{function, python_name}` pairs become one function."
  def check_collisions!(pairs, where) do
    pairs
    |> Enum.group_by(&elem(&1, 0), &elem(&1, 1))
    |> Enum.each(&check_collision!(&1, where))
  end

  defp check_collision!({ex, [a, b | _]}, where) do
    raise Error,
          "#{where}: the Python names #{a} and #{b} would both become the function #{ex} " <>
            "(use except: to leave one out)"
  end

  defp check_collision!({ex, [py]}, where) do
    if Atom.to_string(ex) in @builtin,
      do: raise(Error, "#{where}: the Python name #{py} would become #{ex}, which is reserved")
  end
end
