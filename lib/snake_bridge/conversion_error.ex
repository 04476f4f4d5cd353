defmodule SnakeBridge.ConversionError do
  @moduledoc """
  An Elixir term that has no Python value (a pid, a function, a port, a reference, a
  struct SnakeBridge does not know and no `SnakeBridge.Encoder` converts). Python is not
  called when one is found.

  `:path` says where it sat: `[{:arg, 0}, {:index, 2}, {:key, "a"}]` is `args[0][2]["a"]`.
  `:reason` is `:unconvertible`, or `:duplicate_key` when two keys of one map (members of
  a MapSet, keyword names) become the same Python value, such as `{1, 2}` and `[1, 2]`
  (both the tuple `(1, 2)`): `:term` is then the later key and `:path` the map's place.

      iex> {:error, %SnakeBridge.ConversionError{reason: :duplicate_key, path: [{:arg, 0}]}} =
      ...>   SnakeBridge.call("builtins", "len", [%{{1, 2} => :a, [1, 2] => :b}])
  """
  defexception [:term, :path, reason: :unconvertible]

  @type segment ::
          {:arg, non_neg_integer()}
          | {:kwarg, atom()}
          | {:index, non_neg_integer()}
          | {:key, term()}
          | :element
  @type t :: %__MODULE__{
          term: term(),
          path: [segment()],
          reason: :unconvertible | :duplicate_key
        }

  @impl true
  def message(%__MODULE__{term: term, path: path, reason: :duplicate_key}) do
    where = if path == [], do: "the keyword options", else: "the collection at #{render(path)}"
    "the key #{inspect(term)} becomes the same Python value as another key of #{where}"
  end

  def message(%__MODULE__{term: term, path: path}) do
    "cannot convert #{inspect(term)} to a Python value (at #{render(path)})"
  end

  defp render(path) do
    Enum.map_join(path, fn
      {:arg, i} -> "args[#{i}]"
      {:kwarg, k} -> "#{k}="
      {:index, i} -> "[#{i}]"
      {:key, k} -> "[#{inspect(k)}]"
      :element -> "{element}"
    end)
  end
end
