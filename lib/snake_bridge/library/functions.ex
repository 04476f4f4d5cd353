defmodule SnakeBridge.Library.Functions do
  @moduledoc false
  # The functions of one callable (module function, constructor, method): one per
  # arity from its required and optional positionals, one more with the trailing opts,
  # and the bang variants. Each is one clause, one call (see SnakeBridge.Library.Calls),
  # as a def `{name, args, body, doc, spec}` (see SnakeBridge.Library.Render).

  alias SnakeBridge.Library.{Bangs, Callable, Calls, Docs, Render, Types}

  @doc "Every function of one callable, bang variants included."
  def defs(%Callable{params: :unknown} = c, ctx) do
    sig = Callable.signature(c, ctx)
    main = length(Callable.self_vars(c))

    plain =
      for n <- 0..Callable.max_unknown() do
        vars = for i <- 1..n//1, do: {"arg#{i}", quote(do: term())}
        pos = Callable.vars_ast(vars)

        if n == 0,
          do: one(c, vars, Calls.plain(c, pos, sig), types(c, vars), main, ctx),
          else: one(c, vars, Calls.last(c, pos, sig), last_opts_types(c, vars), main, ctx)
      end

    plain ++ Bangs.defs(c, plain, main)
  end

  def defs(%Callable{params: p} = c, ctx) do
    sig = Callable.signature(c, ctx)
    r = length(p.req)
    all = p.req ++ p.opt
    # The full doc: on the first arity, or (no optional positionals) on the one with opts.
    main = length(Callable.self_vars(c)) + if(p.opt == [], do: r + 1, else: r)

    plain =
      for n <- r..(r + length(p.opt)) do
        vars = Enum.take(all, n)
        pos = Callable.vars_ast(vars)

        if n == r,
          do: one(c, vars, Calls.plain(c, pos, sig), types(c, vars), main, ctx),
          else: one(c, vars, Calls.last(c, pos, sig), last_opts_types(c, vars), main, ctx)
      end

    opts = Macro.var(:opts, nil)
    pos = Callable.vars_ast(all)

    # With *args, a last argument that is not a keyword list is one more positional.
    {body, last_type} =
      if p.var_pos,
        do: {Calls.last(c, pos ++ [opts], sig), quote(do: keyword() | term())},
        else: {Calls.with_opts(c, pos, opts, sig), quote(do: keyword())}

    with_opts = one(c, all, body, types(c, all) ++ [last_type], main, ctx, [opts])
    defs = plain ++ [with_opts]
    defs ++ Bangs.defs(c, defs, main)
  end

  defp one(c, vars, body, types, main, ctx, extra \\ []) do
    args = Callable.vars_ast(Callable.self_vars(c) ++ vars) ++ extra
    arity = length(args)

    doc =
      cond do
        arity == main -> Docs.function(c, ctx)
        arity > main -> Docs.more(c, main)
        true -> Docs.see(c, main)
      end

    {c.ex, args, body, doc, Render.spec(c.ex, types, Types.result(c.returns))}
  end

  defp types(c, vars), do: Callable.types_ast(Callable.self_vars(c) ++ vars)

  # The last positional may be opts.
  defp last_opts_types(c, vars) do
    {init, [{_, t}]} = Enum.split(vars, -1)
    types(c, init) ++ [quote(do: unquote(t) | keyword())]
  end
end
