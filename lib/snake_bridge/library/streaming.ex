defmodule SnakeBridge.Library.Streaming do
  @moduledoc false
  # The `name_stream` variants (the `streaming:` option): SnakeBridge.stream/5 with a
  # callback, or the items collected. Required positionals are arguments, the rest opts.

  alias SnakeBridge.Library.{Callable, Docs, Signature}

  @doc "The clauses of `name_stream` for a module function."
  def defs(%Callable{params: params} = c, ctx) do
    req = if params == :unknown, do: [], else: params.req

    s = %{
      c: c,
      name: :"#{c.ex}_stream",
      pos: Callable.vars_ast(req),
      types: Callable.types_ast(req),
      n: length(req),
      sig: Callable.signature(c, ctx)
    }

    quote do
      @doc unquote(Docs.value(Docs.stream(c, ctx, s.name, s.n), ctx))
      unquote(with_callback(s))
      @doc unquote("See `#{s.name}/#{s.n + 2}`.")
      unquote(callback_or_opts(s))
      @doc unquote("See `#{s.name}/#{s.n + 2}`: the items collected, `{:ok, items}`.")
      unquote(collected(s))
    end
  end

  defp with_callback(s) do
    {opts, cb} = {Macro.var(:opts, nil), Macro.var(:callback, nil)}

    quote do
      @spec unquote(s.name)(unquote_splicing(s.types), keyword(), unquote(callback_type())) ::
              :ok | {:error, SnakeBridge.Error.reason()}
      def unquote(s.name)(unquote_splicing(s.pos), unquote(opts), unquote(cb)),
        do: unquote(stream(s, opts, cb))
    end
  end

  defp callback_or_opts(s) do
    {opts, cb} = {Macro.var(:opts, nil), Macro.var(:callback, nil)}

    quote do
      @spec unquote(s.name)(unquote_splicing(s.types), keyword() | unquote(callback_type())) ::
              :ok | {:ok, list()} | {:error, SnakeBridge.Error.reason()}
      def unquote(s.name)(unquote_splicing(s.pos), unquote(cb)) when is_function(unquote(cb), 1),
        do: unquote(stream(s, [], cb))

      def unquote(s.name)(unquote_splicing(s.pos), unquote(opts)),
        do: unquote(stream(s, opts, nil))
    end
  end

  defp collected(s) do
    quote do
      @spec unquote(s.name)(unquote_splicing(s.types)) ::
              {:ok, list()} | {:error, SnakeBridge.Error.reason()}
      def unquote(s.name)(unquote_splicing(s.pos)), do: unquote(stream(s, [], nil))
    end
  end

  defp stream(%{c: %Callable{target: {:call, module, name}}} = s, opts, callback) do
    quote do
      SnakeBridge.Library.Checked.stream(
        unquote(module),
        unquote(name),
        unquote(s.pos),
        unquote(opts),
        unquote(callback),
        unquote(Signature.quoted(s.sig))
      )
    end
  end

  defp callback_type, do: quote(do: (term() -> :ok | :halt))
end
