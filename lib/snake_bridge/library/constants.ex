defmodule SnakeBridge.Library.Constants do
  @moduledoc false
  # Module-level Python constants as zero-arity functions of their compile-time value.

  alias SnakeBridge.Library.{Docs, Names}

  @doc "The function of a described constant."
  def function(%{"name" => py, "value" => value}, ctx) do
    quote do
      @doc unquote(Docs.constant(py, ctx))
      def unquote(Names.function(py))(), do: unquote(Macro.escape(value))
    end
  end

  @doc "Its `__functions__/0` row."
  def row(%{"name" => py}), do: {Names.function(py), 0, py}
end
