defmodule SnakeBridge.Library.Classes do
  @moduledoc false
  # A module per Python class, nested in the generated module: `new` from `__init__`,
  # methods (instance ones take the Ref first), attribute getters, `@opaque t`.

  alias SnakeBridge.Library.{Bangs, Callable, CompileOptions, Docs, Functions, Names, Render}
  alias SnakeBridge.Library.Types

  @doc "The nested module of a described class."
  def module(cls, ctx) do
    mod = ctx.classes[cls["name"]]

    callables = [
      constructor(cls, mod, ctx) | Enum.map(cls["methods"], &method(&1, cls, mod, ctx))
    ]

    attrs = cls["attributes"]
    check_collisions!(callables, attrs, inspect(mod))

    defs =
      Enum.flat_map(callables, &Functions.defs(&1, ctx)) ++
        Enum.flat_map(attrs, &getter(&1, cls, mod, ctx))

    quote do
      defmodule unquote(module_name(cls, mod, ctx)) do
        @moduledoc unquote(Docs.value(Docs.class(cls), ctx))
        unquote_splicing(CompileOptions.quoted(ctx))

        @typedoc "An instance of the Python class (a `SnakeBridge.Ref`)."
        @opaque t :: SnakeBridge.Ref.t()

        unquote_splicing(Render.body(defs, ctx))

        @doc "The generated functions: `{name, arity, python_signature}`."
        def __functions__, do: unquote(Render.data(rows(callables, attrs), ctx))
      end
    end
  end

  # In printed source, nested by its short name (a full alias inside the parent would
  # nest twice).
  defp module_name(cls, _mod, %{source: true}),
    do: {:__aliases__, [], [Names.class_alias(cls["name"])]}

  defp module_name(_cls, mod, _ctx), do: mod

  defp constructor(cls, mod, ctx) do
    init = Map.put(cls["init"], "doc", cls["doc"])
    target = {:call, ctx.python, cls["qualname"]}
    Callable.new(init, target, ctx, %{ex: :new, label: "#{inspect(mod)}.new"})
  end

  defp method(m, cls, mod, ctx) do
    ex = Names.function(m["name"])
    extra = %{ex: ex, label: "#{inspect(mod)}.#{ex}"}

    if m["kind"] == "method" do
      self = %{var: Names.self_var(cls["name"]), type: quote(do: t())}
      Callable.new(m, {:method, m["name"], class(cls)}, ctx, Map.put(extra, :self, self))
    else
      Callable.new(m, {:call, ctx.python, cls["qualname"] <> "." <> m["name"]}, ctx, extra)
    end
  end

  defp class(cls), do: {:class, cls["module"], cls["qualname"]}

  defp check_collisions!([_new | methods], attrs, label) do
    Names.check_collisions!(
      [{:new, "__init__"}] ++
        Enum.map(methods, &{&1.ex, &1.py}) ++
        Enum.map(attrs, &{Names.function(&1["name"]), &1["name"]}),
      label
    )
  end

  defp rows(callables, attrs) do
    Enum.flat_map(callables, &Callable.rows/1) ++
      Enum.map(attrs, &{Names.function(&1["name"]), 1, &1["name"]})
  end

  # `name(ref)` and `name!(ref)`: SnakeBridge.Library.Checked checks the instance's class
  # (a field compare for exactly this class) and reads the attribute.
  defp getter(attr, cls, mod, ctx) do
    name = Names.function(attr["name"])
    var = Macro.var(String.to_atom(Names.self_var(cls["name"])), nil)
    type = Types.spec(attr["type"], ctx)
    label = "#{inspect(mod)}.#{name}"
    bang = :"#{name}!"

    body =
      quote do
        SnakeBridge.Library.Checked.getattr(
          unquote(var),
          unquote(Macro.escape(class(cls))),
          unquote(attr["name"]),
          unquote(label)
        )
      end

    [
      {name, [var], body, Docs.attribute(attr),
       Render.spec(name, [quote(do: t())], Types.result(type))},
      {bang, [var], Bangs.bang_call(body), "Like `#{name}/1`, but returns the value or raises.",
       Render.spec(bang, [quote(do: t())], type)}
    ]
  end
end
