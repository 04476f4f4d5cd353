defmodule SnakeBridge.Library.Calls do
  @moduledoc false
  # The bodies of generated clauses: a direct call (no opts to check) or a call through
  # SnakeBridge.Library.Checked (which checks them).

  alias SnakeBridge.Library.{Callable, Signature}

  @doc """
  The call with positionals `pos` and no opts: `SnakeBridge.call/4` or
  `SnakeBridge.Ref.method/4`, an instance method's only for a Ref of exactly its class
  (matched, no Python), else through `SnakeBridge.Library.Checked`, which checks the instance.
  """
  def direct(%Callable{self: nil} = c, pos, sig), do: unchecked(c, pos, sig)

  def direct(c, pos, sig) do
    {:method, _, {_, module, qualname}} = c.target

    quote do
      case unquote(Callable.self_ast(c)) do
        %SnakeBridge.Ref{type_name: unquote(qualname), python_module: unquote(module)} ->
          unquote(unchecked(c, pos, sig))

        _ ->
          unquote(checked(c, quote(do: {unquote(pos), []}), sig))
      end
    end
  end

  # Required keyword arguments: always through Checked (it raises naming them).
  defp unchecked(c, pos, %Signature{required: []} = sig) do
    opts = if sig.runtime == [], do: [], else: [__runtime__: sig.runtime]

    case c.target do
      {:call, module, name} ->
        quote(do: SnakeBridge.call(unquote(module), unquote(name), unquote(pos), unquote(opts)))

      {:method, name, _class} ->
        self = Callable.self_ast(c)

        quote(
          do: SnakeBridge.Ref.method(unquote(self), unquote(name), unquote(pos), unquote(opts))
        )
    end
  end

  defp unchecked(c, pos, sig), do: checked(c, quote(do: {unquote(pos), []}), sig)

  @doc "The call through `SnakeBridge.Library.Checked`: `split` evaluates to `{positionals, opts}`."
  def checked(%Callable{target: {:call, module, name}}, split, sig) do
    quote do
      SnakeBridge.Library.Checked.call(
        unquote(module),
        unquote(name),
        unquote(split),
        unquote(Signature.quoted(sig))
      )
    end
  end

  def checked(%Callable{target: {:method, name, class}} = c, split, sig) do
    quote do
      SnakeBridge.Library.Checked.method(
        unquote(Callable.self_ast(c)),
        unquote(Macro.escape(class)),
        unquote(name),
        unquote(split),
        unquote(Signature.quoted(sig))
      )
    end
  end
end
