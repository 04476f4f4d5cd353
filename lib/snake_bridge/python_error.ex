defmodule SnakeBridge.PythonError do
  @moduledoc """
  A Python exception raised by the called code.

    * `:type` - the exception's type name (`"ValueError"`, `"json.decoder.JSONDecodeError"`)
    * `:message` - `str(exception)`
    * `:traceback` - the formatted traceback, as Python prints it
  """
  defexception [:type, :message, :traceback]

  @type t :: %__MODULE__{type: String.t(), message: String.t(), traceback: String.t()}

  @impl true
  def message(%__MODULE__{type: type, message: ""}), do: type
  def message(%__MODULE__{type: type, message: message}), do: "#{type}: #{message}"
end

defmodule SnakeBridge.ConversionError do
  @moduledoc """
  An Elixir term that has no Python value (a pid, a function, a port, a reference, a
  struct SnakeBridge does not know). Python is not called when one is found.

  `:path` says where it sat: `[{:arg, 0}, {:index, 2}, {:key, "a"}]` is `args[0][2]["a"]`.
  """
  defexception [:term, :path]

  @type segment ::
          {:arg, non_neg_integer()}
          | {:kwarg, atom()}
          | {:index, non_neg_integer()}
          | {:key, term()}
          | :element
  @type t :: %__MODULE__{term: term(), path: [segment()]}

  @impl true
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

defmodule SnakeBridge.Error do
  @moduledoc """
  A failure that is not a Python exception: `:timeout`, `:cancelled`, `:stop_iteration`,
  `:python_not_started`, `:unknown_stream`, or `{:bad_argument, message}`.
  """
  defexception [:reason]

  @type t :: %__MODULE__{reason: term()}

  @impl true
  def message(%__MODULE__{reason: :timeout}), do: "the Python code ran past its timeout"
  def message(%__MODULE__{reason: :stop_iteration}), do: "the Python iterator is exhausted"
  def message(%__MODULE__{reason: reason}), do: "SnakeBridge error: #{inspect(reason)}"
end
