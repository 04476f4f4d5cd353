defmodule SnakeBridge.Library.Callable do
  @moduledoc false
  # A Python callable (function, constructor, method) as its generated clauses need it.
  # target: {:call, module, dotted_name} (a module function, a class, a static or class
  # method) or {:method, name, class} (an instance method: the instance comes first).
  # params: :unknown (Python does not report the signature) or the parameters by kind.

  alias SnakeBridge.Library.{Names, Signature, Types}

  @max_unknown 8

  defstruct [:py, :ex, :target, :doc, :signature, :returns, :self, :label, :params]

  @doc "How many positional arguments a function of unknown signature takes at most."
  def max_unknown, do: @max_unknown

  @doc "A module function."
  def function(f, ctx), do: new(f, {:call, ctx.python, f["name"]}, ctx)

  @doc "`extra`: `:ex` (the Elixir name), `:label` (for errors), `:self` (an instance method's)."
  def new(f, target, ctx, extra \\ %{}) do
    ex = Map.get(extra, :ex, Names.function(f["name"]))
    self = Map.get(extra, :self)

    %__MODULE__{
      py: f["name"],
      ex: ex,
      target: target,
      doc: f["doc"],
      signature: f["signature"],
      returns: Types.spec(f["returns"], ctx),
      self: self,
      label: Map.get(extra, :label, "#{inspect(ctx.module)}.#{ex}"),
      params: params(f["params"], ctx, if(self, do: [self.var], else: []))
    }
  end

  defp params(nil, _ctx, _taken), do: :unknown

  defp params(params, ctx, taken) do
    vars = with_vars(params, taken)
    positional = Enum.filter(vars, &(&1["kind"] in ["positional_only", "positional"]))
    {req, opt} = Enum.split_while(positional, &(not &1["default"]))

    %{
      req: Enum.map(req, &{&1["var"], Types.spec(&1["type"], ctx)}),
      opt: Enum.map(opt, &{&1["var"], Types.spec(&1["type"], ctx)}),
      var_pos: Enum.any?(vars, &(&1["kind"] == "var_positional")),
      var_kw: Enum.any?(vars, &(&1["kind"] == "var_keyword")),
      kw: names(vars, &(&1["kind"] in ["positional", "keyword_only"])),
      req_kw: names(vars, &(&1["kind"] == "keyword_only" and not &1["default"]))
    }
  end

  defp with_vars(params, taken) do
    params
    |> Enum.map_reduce(taken, fn p, taken ->
      v = Names.var(p["name"], taken)
      {Map.put(p, "var", v), [v | taken]}
    end)
    |> elem(0)
  end

  defp names(params, keep?), do: for(p <- params, keep?.(p), do: String.to_atom(p["name"]))

  @doc "What `SnakeBridge.Library.Checked` checks opts against."
  def signature(%__MODULE__{params: :unknown} = c, ctx),
    do: %Signature{label: c.label, keywords: :any, required: [], runtime: ctx.runtime}

  def signature(%__MODULE__{params: p} = c, ctx) do
    keywords = if p.var_kw, do: :any, else: p.kw
    %Signature{label: c.label, keywords: keywords, required: p.req_kw, runtime: ctx.runtime}
  end

  @doc "Its `__functions__/0` rows: `{name, arity, python_signature}`."
  def rows(%__MODULE__{params: :unknown} = c),
    do:
      for(
        n <- 0..@max_unknown,
        do: {c.ex, n, if(c.signature, do: c.py <> c.signature, else: "(...)")}
      )

  def rows(%__MODULE__{params: p} = c) do
    r = length(p.req)
    for n <- r..(r + length(p.opt) + 1), do: {c.ex, n, "#{c.py}#{c.signature}"}
  end

  @doc "The instance argument, `[{var, type}]`, or `[]`."
  def self_vars(%__MODULE__{self: nil}), do: []
  def self_vars(%__MODULE__{self: s}), do: [{s.var, s.type}]

  @doc "`[{var, type}]` as variables."
  def vars_ast(vars), do: Enum.map(vars, fn {v, _} -> Macro.var(String.to_atom(v), nil) end)

  @doc "`[{var, type}]` as types."
  def types_ast(vars), do: Enum.map(vars, fn {_, t} -> t end)

  @doc "The instance variable."
  def self_ast(%__MODULE__{self: s}), do: Macro.var(String.to_atom(s.var), nil)
end
