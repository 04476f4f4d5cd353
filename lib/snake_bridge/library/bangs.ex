defmodule SnakeBridge.Library.Bangs do
  @moduledoc false
  # The `name!` variants: the same arguments and call, the value or a raise.

  alias SnakeBridge.Library.{Callable, Docs, Render}

  @doc "The bang defs of a callable's defs (`main`: the arity its doc is on)."
  def defs(%Callable{} = c, defs, main) do
    bang = :"#{c.ex}!"
    doc = Docs.bang(c, main)

    for {_name, args, body, _doc, spec} <- defs,
        do: {bang, args, bang_call(body), doc, Render.bang_spec(bang, spec, c.returns)}
  end

  @doc """
  The bang form of a generated body (one remote call to `SnakeBridge.call/4` or to
  `SnakeBridge.Library.Checked`): the same call to the function's `!` variant, so a
  bang function is one call too (a nested call costs the compiler a block more).
  """
  def bang_call({{:., dot, [mod, fun]}, meta, args}),
    do: {{:., dot, [mod, :"#{fun}!"]}, meta, args}
end
