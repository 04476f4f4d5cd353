defmodule SnakeBridge.Library.Bangs do
  @moduledoc false
  # The `name!` variants: the same arguments, the value or a raise.

  alias SnakeBridge.Library.{Callable, Docs}

  @doc "The bang clauses of a callable (`arities` and `with_opts?` as its own)."
  def defs(c, [{vars, _}], true) do
    sv = Callable.self_vars(c)
    args = Callable.vars_ast(sv ++ vars)
    types = Callable.types_ast(sv ++ vars) ++ [quote(do: keyword())]
    opts = Macro.var(:opts, nil)
    bang = bang(c)

    [
      quote do
        @doc unquote(Docs.bang(c, length(args)))
        @spec unquote(bang)(unquote_splicing(types)) :: unquote(c.returns)
        def unquote(bang)(unquote_splicing(args), unquote(opts) \\ []),
          do:
            SnakeBridge.Library.Checked.ok!(
              __MODULE__.unquote(c.ex)(unquote_splicing(args), unquote(opts))
            )
      end
    ]
  end

  def defs(c, arities, with_opts?) do
    sv = Callable.self_vars(c)
    {last, _} = List.last(arities)

    with_opts =
      if with_opts?, do: [Callable.vars_ast(sv ++ last) ++ [Macro.var(:opts, nil)]], else: []

    sets = Enum.map(arities, &Callable.vars_ast(sv ++ elem(&1, 0))) ++ with_opts
    doc = Docs.bang(c, Callable.main_arity(c, arities))
    Enum.with_index(sets, fn args, i -> clause(c, args, i == 0 && doc) end)
  end

  defp clause(c, args, doc) do
    types = Enum.map(args, fn _ -> quote(do: term()) end)

    quote do
      @doc unquote(doc)
      @spec unquote(bang(c))(unquote_splicing(types)) :: unquote(c.returns)
      def unquote(bang(c))(unquote_splicing(args)),
        do: SnakeBridge.Library.Checked.ok!(__MODULE__.unquote(c.ex)(unquote_splicing(args)))
    end
  end

  defp bang(c), do: :"#{c.ex}!"
end
