defmodule SnakeBridge.Decimal do
  @moduledoc """
  A Python `decimal.Decimal`, as its exact string form: `value` is `str(d)` (such as
  `"1.10"`, `"-0"`, `"1E+3"`, `"NaN"`, `"Infinity"`), so every digit, the exponent and
  the sign of zero survive a round trip. Sent to Python, it becomes `Decimal(value)`; a
  `value` that `Decimal` does not parse is a `SnakeBridge.ConversionError`.

      iex> SnakeBridge.call("decimal", "Decimal", ["1.10"])
      {:ok, %SnakeBridge.Decimal{value: "1.10"}}
      iex> SnakeBridge.call("operator", "add", [%SnakeBridge.Decimal{value: "0.1"}, %SnakeBridge.Decimal{value: "0.2"}])
      {:ok, %SnakeBridge.Decimal{value: "0.3"}}
      iex> to_string(%SnakeBridge.Decimal{value: "2.50"})
      "2.50"
  """
  @enforce_keys [:value]
  defstruct [:value]

  @type t :: %__MODULE__{value: String.t()}

  defimpl String.Chars do
    def to_string(%{value: value}), do: value
  end
end
