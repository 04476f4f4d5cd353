defmodule SnakeBridge.Library.Signature do
  @moduledoc """
  What `SnakeBridge.Library.Checked` checks a generated function's `opts` against.

    * `:label` - the function's name in error messages (`"MyApp.Json.dumps"`);
    * `:keywords` - the keyword argument names the Python function takes (a tuple in
      generated code, a list in older generated files), or `:any` (it has `**kwargs`,
      or Python does not report its signature);
    * `:required` - the required keyword-only arguments;
    * `:runtime` - the module's `runtime:` defaults, merged under `__runtime__:`.

  Files written by `mix snakebridge.gen` before this struct pass the same fields as a
  tuple, `{label, keywords, required, runtime}`; `SnakeBridge.Library.Checked` takes both (`new/1`).
  """

  @enforce_keys [:label]
  defstruct label: nil, keywords: :any, required: [], runtime: []

  @type t :: %__MODULE__{
          label: String.t(),
          keywords: tuple() | [atom()] | :any,
          required: [atom()],
          runtime: keyword()
        }

  @typedoc "The tuple generated files held before this struct."
  @type legacy :: {String.t(), [atom()] | :any, [atom()], keyword()}

  @doc "The struct, from itself or from the tuple of older generated files."
  @spec new(t() | legacy()) :: t()
  def new(%__MODULE__{} = signature), do: signature

  def new({label, keywords, required, runtime}),
    do: %__MODULE__{label: label, keywords: keywords, required: required, runtime: runtime}

  @doc false
  # The struct as code, `%SnakeBridge.Library.Signature{...}`, for generated clauses.
  # The keyword names as a tuple: Elixir's type check of a module makes the union of a
  # literal list's element types, pairwise (thousands of lists of dozens of names).
  def quoted(%__MODULE__{} = s) do
    keywords = if is_list(s.keywords), do: {:{}, [], s.keywords}, else: s.keywords

    quote do
      %SnakeBridge.Library.Signature{
        label: unquote(s.label),
        keywords: unquote(keywords),
        required: unquote(s.required),
        runtime: unquote(Macro.escape(s.runtime))
      }
    end
  end
end
