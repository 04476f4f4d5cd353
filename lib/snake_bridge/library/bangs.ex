defmodule SnakeBridge.Library.Bangs do
  @moduledoc false
  # The `name!` variants: the same arguments and call, the value or a raise.

  alias SnakeBridge.Library.{Callable, Docs, Render}

  @doc "The bang defs of a callable's defs (`main`: the arity its doc is on)."
  def defs(%Callable{} = c, defs, main) do
    bang = :"#{c.ex}!"
    doc = Docs.bang(c, main)

    for {_name, args, body, _doc, spec} <- defs do
      body = quote(do: SnakeBridge.Library.Checked.ok!(unquote(body)))
      {bang, args, body, doc, Render.bang_spec(bang, spec, c.returns)}
    end
  end
end
