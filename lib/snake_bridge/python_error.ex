defmodule SnakeBridge.PythonError do
  @moduledoc """
  A Python exception raised by the called code.

    * `:type` - the exception's type name (`"ValueError"`, `"json.decoder.JSONDecodeError"`)
    * `:message` - `str(exception)`
    * `:traceback` - the formatted traceback, as Python prints it (chained exceptions
      included), without SnakeBridge's own frames

  `Exception.message/1` is `"Type: message"` and then, when Python code ran before the
  exception (the traceback has more to say than that line), the traceback, indented:

      ValueError: bad thing

          Traceback (most recent call last):
            File "/app/my_module.py", line 3, in check
              raise ValueError("bad thing")
          ValueError: bad thing

  The first line alone is `summary/1`.
  """
  defexception [:type, :message, :traceback]

  @type t :: %__MODULE__{type: String.t(), message: String.t(), traceback: String.t()}

  @impl true
  def message(%__MODULE__{traceback: traceback} = error) do
    summary = summary(error)
    text = if is_binary(traceback), do: String.trim_trailing(traceback), else: ""

    if text == "" or text == summary do
      summary
    else
      summary <> "\n\n" <> indent(text)
    end
  end

  @doc """
  `"Type: message"`, the first line of `Exception.message/1` (just the type when the
  message is empty).

      iex> SnakeBridge.PythonError.summary(%SnakeBridge.PythonError{type: "KeyError", message: "'a'"})
      "KeyError: 'a'"
  """
  @spec summary(t()) :: String.t()
  def summary(%__MODULE__{type: type, message: message}) when message in [nil, ""], do: type
  def summary(%__MODULE__{type: type, message: message}), do: "#{type}: #{message}"

  defp indent(text) do
    text
    |> String.split("\n")
    |> Enum.map_join("\n", fn
      "" -> ""
      line -> "    " <> line
    end)
  end
end
