defmodule SnakeBridge.Library.Generator do
  @moduledoc false
  # The quoted body of a wrapper module, from the description
  # `snakebridge_library.describe/1` (priv/python) returns: `use SnakeBridge.Library`
  # compiles it, `mix snakebridge.gen` prints it. The parts: Functions (and Bangs),
  # Streaming, Constants, Classes; Options, Names, Docs and Types serve them. Nothing
  # here runs when a generated function is called: see SnakeBridge.Library.Checked.

  alias SnakeBridge.Library.{Callable, Classes, CompileOptions, Constants, Functions, Names}
  alias SnakeBridge.Library.{Options, Render, Streaming}

  @doc """
  The quoted module body for `desc`. `opts`: `:module` (the Elixir module), `:python`,
  `:only`, `:except`, `:streaming`, `:classes`, `:runtime`, `:source` (true: docs as
  `~S` heredocs, for printing). Raises `Error` for bad options and name collisions.
  """
  def body(desc, opts) do
    {ctx, selected} = Options.select!(desc, opts)
    callables = Enum.map(selected.functions, &Callable.function(&1, ctx))
    streamed = Enum.filter(callables, &(&1.py in selected.streaming))
    check_collisions!(callables, streamed, selected.constants, ctx)

    defs =
      Enum.flat_map(callables, &Functions.defs(&1, ctx)) ++
        Enum.map(selected.constants, &Constants.function(&1, ctx))

    body =
      quote do
        unquote_splicing(CompileOptions.quoted(ctx))
        unquote_splicing(Render.body(defs, ctx))
        unquote_splicing(Enum.map(streamed, &Streaming.defs(&1, ctx)))
        unquote_splicing(Enum.map(selected.classes, &Classes.module(&1, ctx)))
        unquote(introspection(callables, selected, ctx))
      end

    if ctx.source, do: flatten(body), else: body
  end

  defp check_collisions!(callables, streamed, constants, ctx) do
    Names.check_collisions!(
      Enum.map(callables, &{&1.ex, &1.py}) ++
        Enum.map(streamed, &{:"#{&1.ex}_stream", &1.py <> " (streaming)"}) ++
        Enum.map(constants, &{Names.function(&1["name"]), &1["name"]}),
      inspect(ctx.module)
    )
  end

  defp introspection(callables, selected, ctx) do
    functions =
      Enum.flat_map(callables, &Callable.rows/1) ++ Enum.map(selected.constants, &Constants.row/1)

    classes =
      for cls <- selected.classes,
          name <- Options.class_names(cls),
          do: {ctx.classes[cls["name"]], name}

    quote do
      @doc """
      The generated functions: `{name, arity, python_signature}` for every arity of every
      function (bang variants and `_stream` variants not listed) and constant.
      """
      @spec __functions__() :: [{atom(), non_neg_integer(), String.t()}]
      def __functions__, do: unquote(Render.data(functions, ctx))

      @doc """
      The generated class modules: `{module, python_class_name}` (a class bound to
      several Python names has one module, listed under each).
      """
      @spec __classes__() :: [{module(), String.t()}]
      def __classes__, do: unquote(Macro.escape(classes))
    end
  end

  # Nested blocks (one per generated function) spliced into one: the printed source has
  # no parentheses around each group.
  defp flatten(ast) do
    Macro.prewalk(ast, fn
      {:__block__, meta, items} -> {:__block__, meta, Enum.flat_map(items, &unblock/1)}
      other -> other
    end)
  end

  defp unblock({:__block__, _, items}), do: Enum.flat_map(items, &unblock/1)
  defp unblock(other), do: [other]
end
