defmodule SnakeBridge.Library.Constants do
  @moduledoc false
  # Module-level Python constants as zero-arity functions of their compile-time value.

  alias SnakeBridge.Library.{Docs, Names, Render}

  @doc "The def (see SnakeBridge.Library.Render) of a described constant."
  def function(%{"name" => py, "value" => value}, ctx) do
    name = Names.function(py)

    {name, [], Macro.escape(value), Docs.constant(py, ctx),
     Render.spec(name, [], quote(do: term()))}
  end

  @doc "Its `__functions__/0` row."
  def row(%{"name" => py}), do: {Names.function(py), 0, py}
end
