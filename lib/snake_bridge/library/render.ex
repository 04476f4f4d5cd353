defmodule SnakeBridge.Library.Render do
  @moduledoc false
  # Generated functions are defs, `{name, args, body, doc, spec}` (args: variables,
  # body: one expression, doc: a string or false, spec: `name(types) :: type`). They
  # become code two ways:
  #
  #   * `forms/2`: `@doc`, `@spec`, `def` for each, for the source `mix snakebridge.gen`
  #     prints;
  #   * `compact/1`: the defs as one binary and one `for` that defines them (unquote
  #     fragments), for `use SnakeBridge.Library`. A module body is compiled into one
  #     Erlang function before it runs: thousands of `def`s written out made it
  #     thousands of blocks, and the Erlang compiler's passes over one function grow
  #     faster than linearly with its size. The loop keeps the body small, whatever the
  #     number of functions.

  alias SnakeBridge.Library.Docs

  @doc "`name(types) :: returns` as a spec."
  def spec(name, types, returns),
    do: quote(do: unquote(name)(unquote_splicing(types)) :: unquote(returns))

  @doc "The spec of a bang variant: the same arguments as `spec`, the value."
  def bang_spec(bang, {:"::", _, [{_name, _, types}, _]}, returns), do: spec(bang, types, returns)

  @doc "The defs as module body forms: written out in printed source, else compact."
  def body(defs, %{source: true} = ctx), do: forms(defs, ctx)
  def body(defs, _ctx), do: [compact(defs)]

  @doc "The defs written out: `@doc`, `@spec`, `def`, one after the other."
  def forms(defs, ctx) do
    Enum.flat_map(defs, fn {name, args, body, doc, spec} ->
      doc = if is_binary(doc), do: Docs.value(doc, ctx), else: doc

      [
        quote(do: @doc(unquote(doc))),
        quote(do: @spec(unquote(spec))),
        quote(do: def(unquote(name)(unquote_splicing(args)), do: unquote(body)))
      ]
    end)
  end

  @loop (quote unquote: false do
           for {name, args, body, doc, spec} <- sb_library_defs do
             @doc doc
             @spec unquote(spec)
             def unquote(name)(unquote_splicing(args)), do: unquote(body)
           end
         end)

  @doc """
  A data term as code: in printed source the term itself; compiled, a compressed binary
  decoded when called. Elixir's type check of a module makes the union of a literal
  list's element types pairwise: `__functions__/0`'s thousands of `{name, arity, sig}`
  tuples (each name its own type) cost it seconds.
  """
  def data(term, %{source: true}), do: Macro.escape(term)

  def data(term, _ctx),
    do: quote(do: :erlang.binary_to_term(unquote(:erlang.term_to_binary(term, [:compressed]))))

  @doc "The defs as one literal and a loop that defines them (see the moduledoc)."
  def compact([]), do: quote(do: nil)

  def compact(defs) do
    # As a binary, compressed: the Erlang compiler infers a type for every literal term
    # of a function (for thousands of nested ASTs, more than the rest costs), and walks
    # a literal binary bit by bit.
    data = :erlang.term_to_binary(defs, [:compressed])

    quote do
      sb_library_defs = :erlang.binary_to_term(unquote(data))
      unquote(@loop)
    end
  end
end
