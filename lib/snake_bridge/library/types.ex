defmodule SnakeBridge.Library.Types do
  @moduledoc false
  # Typespecs from the type names snakebridge_library.py makes of Python annotations.

  @doc "The typespec of a described type; `ctx.classes` maps generated classes to modules."
  def spec("term", _), do: quote(do: term())
  def spec("nil", _), do: nil
  def spec("boolean", _), do: quote(do: boolean())
  def spec("integer", _), do: quote(do: integer())
  def spec("float", _), do: quote(do: float())
  def spec("string", _), do: quote(do: String.t())
  def spec("binary", _), do: quote(do: binary())
  def spec("tuple", _), do: quote(do: tuple())
  def spec("stream", _), do: quote(do: SnakeBridge.StreamRef.t())
  def spec(["list", t], ctx), do: [spec(t, ctx)]

  def spec(["map", k, v], ctx),
    do: quote(do: %{optional(unquote(spec(k, ctx))) => unquote(spec(v, ctx))})

  def spec(["tuple", ts], ctx), do: {:{}, [], Enum.map(ts, &spec(&1, ctx))}

  def spec(["union", ts], ctx) do
    ts
    |> Enum.map(&spec(&1, ctx))
    |> Enum.uniq()
    |> Enum.reduce(&quote(do: unquote(&2) | unquote(&1)))
  end

  def spec(["class", name], ctx) do
    case ctx.classes do
      %{^name => mod} -> quote(do: unquote(mod).t())
      _ -> quote(do: SnakeBridge.Ref.t())
    end
  end

  def spec(_, _), do: quote(do: term())

  @doc "What a generated function returns, for a Python return type."
  def result(returns),
    do: quote(do: {:ok, unquote(returns)} | {:error, SnakeBridge.Error.reason()})
end
