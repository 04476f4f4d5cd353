defmodule SnakeBridge.Library.Calls do
  @moduledoc false
  # The bodies of generated functions, each one remote call: straight to
  # SnakeBridge.call/4 when there are no opts to check, else through
  # SnakeBridge.Library.Checked (which checks them, and an instance's class).

  alias SnakeBridge.Library.{Callable, Signature}

  @doc "The call with positionals `pos` and no opts."
  def plain(%Callable{target: {:call, module, name}}, pos, %Signature{required: []} = sig) do
    opts = if sig.runtime == [], do: [], else: [__runtime__: sig.runtime]
    quote(do: SnakeBridge.call(unquote(module), unquote(name), unquote(pos), unquote(opts)))
  end

  def plain(c, pos, sig), do: with_opts(c, pos, [], sig)

  @doc "The call whose last positional (in `pos`) is opts when it is a keyword list."
  def last(%Callable{target: {:call, module, name}}, pos, sig) do
    quote do
      SnakeBridge.Library.Checked.call_last(
        unquote(module),
        unquote(name),
        unquote(pos),
        unquote(Signature.quoted(sig))
      )
    end
  end

  def last(%Callable{target: {:method, name, class}} = c, pos, sig) do
    quote do
      SnakeBridge.Library.Checked.method_last(
        unquote(Callable.self_ast(c)),
        unquote(Macro.escape(class)),
        unquote(name),
        unquote(pos),
        unquote(Signature.quoted(sig))
      )
    end
  end

  @doc "The call with positionals `pos` and `opts` (code), checked."
  def with_opts(%Callable{target: {:call, module, name}}, pos, opts, sig) do
    quote do
      SnakeBridge.Library.Checked.call(
        unquote(module),
        unquote(name),
        {unquote(pos), unquote(opts)},
        unquote(Signature.quoted(sig))
      )
    end
  end

  def with_opts(%Callable{target: {:method, name, class}} = c, pos, opts, sig) do
    quote do
      SnakeBridge.Library.Checked.method(
        unquote(Callable.self_ast(c)),
        unquote(Macro.escape(class)),
        unquote(name),
        {unquote(pos), unquote(opts)},
        unquote(Signature.quoted(sig))
      )
    end
  end
end
