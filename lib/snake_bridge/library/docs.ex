defmodule SnakeBridge.Library.Docs do
  @moduledoc false
  # The @doc and @moduledoc texts of generated code.

  alias SnakeBridge.Library.Callable

  @doc "A doc text as code: in printed source a `~S` heredoc (readable, nothing escaped)."
  def value(doc, %{source: true}) when is_binary(doc) do
    if String.contains?(doc, ~s(""")),
      do: doc,
      else:
        {:sigil_S, [delimiter: ~s(""")], [{:<<>>, [], [String.trim_trailing(doc) <> "\n"]}, []]}
  end

  def value(doc, _ctx), do: doc

  @doc "A function's doc: the Python signature, the docstring, how to pass options."
  def function(c, ctx) do
    "```python\n#{python_signature(c, ctx)}\n```\n\n" <>
      (c.doc || "") <>
      "\n\n" <>
      how(c.params) <>
      " Returns `{:ok, value}` or `{:error, reason}`, like `SnakeBridge.call/4`."
  end

  @doc "The doc of a clause with more arguments than the first."
  def more(c, main_arity),
    do: "See `#{c.ex}/#{main_arity}` (the same Python function, more arguments)."

  @doc "The doc of the clause with the trailing opts."
  def see(c, main_arity), do: "See `#{c.ex}/#{main_arity}`."

  @doc "A bang variant's doc."
  def bang(c, main_arity), do: "Like `#{c.ex}/#{main_arity}`, but returns the value or raises."

  @doc "The doc of `name_stream` (the function streamed has `n` required arguments)."
  def stream(c, ctx, name, n) do
    {:call, _, fname} = c.target

    """
    Streams `#{ctx.python}.#{fname}` through `SnakeBridge.stream/5`: `callback` gets every
    item the Python function yields (it returns `:ok` to go on, `:halt` to stop). The
    optional parameters of the Python function go in `opts` by name, with
    `__runtime__: [stream_timeout: ...]` and the other runtime options.

    Returns `:ok`, `{:error, :timeout}` or `{:error, reason}`. Without a callback
    (`#{name}/#{n}`, or `#{name}/#{n + 1}` with a keyword list) the items are collected:
    `{:ok, items}`.

    ```python
    #{fname}#{c.signature}
    ```
    """
  end

  @doc "A constant's doc."
  def constant(py, ctx),
    do: "The Python constant `#{ctx.python}.#{py}`, as it was when this module was compiled."

  @doc "A class module's moduledoc."
  def class(cls) do
    "The Python class `#{cls["module"]}.#{cls["qualname"]}`: `new` makes one (a " <>
      "`SnakeBridge.Ref`), the other functions take it first." <> paragraph(cls["doc"])
  end

  @doc "An attribute getter's doc."
  def attribute(attr),
    do: "The #{attr["kind"]} `#{attr["name"]}` of the instance." <> paragraph(attr["doc"])

  defp paragraph(nil), do: ""
  defp paragraph(text), do: "\n\n" <> text

  defp python_signature(%{target: {:call, _, name}} = c, ctx),
    do: "#{ctx.python}.#{name}#{c.signature || "(...)"}"

  defp python_signature(%{target: {:method, name, {_, _, qualname}}} = c, _ctx),
    do: "#{qualname}.#{name}#{c.signature || "(...)"}"

  defp how(:unknown) do
    "Python does not report this function's signature: it takes up to " <>
      "#{Callable.max_unknown()} positional arguments; a keyword list in last place is " <>
      "`opts` (Python keyword arguments and `__runtime__: [...]`)."
  end

  defp how(p) do
    "`opts`: #{keywords(p)}, `__runtime__: [...]` as for `SnakeBridge.call/4`" <>
      if(p.var_pos or p.opt != [],
        do: ", `__args__: [...]` (more positional arguments)",
        else: ""
      ) <>
      "." <>
      if(p.var_pos,
        do: " In its place, anything but a keyword list is one more positional argument.",
        else: ""
      ) <>
      required(p.req_kw) <>
      if(p.opt != [],
        do: " A keyword list (`[]` too) in the last place is taken as `opts`.",
        else: ""
      )
  end

  defp keywords(%{var_kw: true}), do: "Python keyword arguments (any name)"
  defp keywords(%{kw: []}), do: "no Python keyword arguments"
  defp keywords(%{kw: kw}), do: "Python keyword arguments (#{code_list(kw)})"

  defp required([]), do: ""
  defp required(names), do: " Required: #{code_list(names)}."

  defp code_list(names), do: Enum.map_join(names, ", ", &"`#{&1}`")
end
