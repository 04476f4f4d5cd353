defmodule SnakeBridge.Library.Functions do
  @moduledoc false
  # The clauses of a generated function (module functions, constructors, methods): one
  # per arity from its required and optional positionals, the opts, the bang variants.
  # arities: [{positional vars, last_may_be_opts?}], shortest first.

  alias SnakeBridge.Library.{Bangs, Callable, Calls, Docs, Signature, Types}

  @doc "Every clause of one callable, with its bang variant."
  def defs(%Callable{params: :unknown} = c, ctx) do
    arities =
      for n <- 0..Callable.max_unknown() do
        {for(i <- 1..n//1, do: {"arg#{i}", quote(do: term())}), n > 0}
      end

    clauses(c, arities, false, ctx)
  end

  def defs(%Callable{params: p} = c, ctx) do
    r = length(p.req)
    all = p.req ++ p.opt
    arities = for n <- r..(r + length(p.opt)), do: {Enum.take(all, n), n > r}
    clauses(c, arities, true, ctx)
  end

  # with_opts?: the longest also takes a trailing opts (for :unknown the opts come only as
  # a keyword list in last place). With one arity that is `opts \\ []` and nothing else.
  defp clauses(c, arities, with_opts?, ctx) do
    sig = Callable.signature(c, ctx)
    single? = with_opts? and length(arities) == 1
    main = Callable.main_arity(c, arities)

    plain =
      if single?, do: [], else: Enum.with_index(arities, &plain(c, &1, &2, {main, sig}, ctx))

    longest = if with_opts?, do: [longest(c, arities, {main, sig}, ctx)], else: []
    quote(do: (unquote_splicing(plain ++ longest ++ Bangs.defs(c, arities, with_opts?))))
  end

  defp plain(c, {vars, last_opts?}, i, {main, sig}, ctx) do
    doc = if i == 0, do: Docs.function(c, ctx), else: Docs.more(c, main)

    quote do
      unquote(Docs.attr(doc, ctx))
      unquote(one_arity(c, vars, last_opts?, sig))
    end
  end

  defp longest(c, arities, {main, sig}, ctx) do
    single? = length(arities) == 1
    doc = if single?, do: Docs.function(c, ctx), else: Docs.see(c, main)
    {vars, _} = List.last(arities)

    quote do
      unquote(Docs.attr(doc, ctx))
      unquote(with_trailing_opts(c, vars, sig, single?))
    end
  end

  # f(a, b).
  defp one_arity(c, vars, false, sig) do
    quote do
      unquote(spec(c, Callable.types_ast(Callable.self_vars(c) ++ vars)))

      def unquote(c.ex)(unquote_splicing(args(c, vars))),
        do: unquote(Calls.direct(c, Callable.vars_ast(vars), sig))
    end
  end

  # f(a, b) where b may be the opts (a keyword list in last place).
  defp one_arity(c, vars, true, sig) do
    pos = Callable.vars_ast(vars)
    {init, [last]} = Enum.split(pos, -1)
    split = quote(do: SnakeBridge.Library.Checked.split_last(unquote(init), unquote(last)))

    quote do
      unquote(spec(c, last_opts_types(c, vars)))

      def unquote(c.ex)(unquote_splicing(args(c, vars))) when not is_list(unquote(last)),
        do: unquote(Calls.direct(c, pos, sig))

      def unquote(c.ex)(unquote_splicing(args(c, vars))),
        do: unquote(Calls.checked(c, split, sig))
    end
  end

  # f(a, b, opts \\ []) with one arity, else f(a, b, opts); `[]` goes the direct way.
  defp with_trailing_opts(c, vars, sig, default?) do
    opts = Macro.var(:opts, nil)
    args = args(c, vars)
    pos = Callable.vars_ast(vars)
    head = if default?, do: quote(do: unquote(opts) \\ []), else: opts
    types = Callable.types_ast(Callable.self_vars(c) ++ vars) ++ [quote(do: keyword())]

    quote do
      unquote(spec(c, types))
      def unquote(c.ex)(unquote_splicing(args ++ [head]))
      unquote_splicing(without_opts(c, args, pos, sig))

      def unquote(c.ex)(unquote_splicing(args ++ [opts])),
        do: unquote(Calls.checked(c, quote(do: {unquote(pos), unquote(opts)}), sig))
    end
  end

  # Nothing to check when opts is [] and no keyword argument is required.
  defp without_opts(c, args, pos, %Signature{required: []} = sig) do
    [
      quote do
        def unquote(c.ex)(unquote_splicing(args ++ [[]])),
          do: unquote(Calls.direct(c, pos, sig))
      end
    ]
  end

  defp without_opts(_c, _args, _pos, _sig), do: []

  defp args(c, vars), do: Callable.vars_ast(Callable.self_vars(c) ++ vars)

  defp last_opts_types(c, vars) do
    {init, [{_, t}]} = Enum.split(vars, -1)
    Callable.types_ast(Callable.self_vars(c) ++ init) ++ [quote(do: unquote(t) | keyword())]
  end

  defp spec(c, types),
    do:
      quote(do: @spec(unquote(c.ex)(unquote_splicing(types)) :: unquote(Types.result(c.returns))))
end
