defprotocol SnakeBridge.Encoder do
  @moduledoc """
  Converts your own structs to values SnakeBridge can send to Python.

  `encode/1` returns any term SnakeBridge converts (a map, a list, a string,
  `SnakeBridge.bytes/1`, another struct with an `Encoder`, ...):

      defmodule Point do
        defstruct [:x, :y]
      end

      defimpl SnakeBridge.Encoder, for: Point do
        def encode(%Point{x: x, y: y}), do: %{"x" => x, "y" => y}
      end

      SnakeBridge.call("json", "dumps", [%Point{x: 1, y: 2}], sort_keys: true)
      #=> {:ok, ~s({"x": 1, "y": 2})}

  A call costs nothing more when no struct needs encoding: SnakeBridge first sends the
  arguments as they are; only when they hold a struct it does not know does it encode
  every struct with an implementation (anywhere in the arguments and keyword options)
  and send them again. A struct with no implementation stays a
  `SnakeBridge.ConversionError`. The implementation is found by its module name
  (`SnakeBridge.Encoder.Point`), so one defined after protocols were consolidated (in
  `iex`, or in a test file) works too. The structs SnakeBridge converts itself (`Date`,
  `DateTime`, `NaiveDateTime`, `Time`, `MapSet`, `SnakeBridge.Bytes`,
  `SnakeBridge.Decimal`, refs) are never encoded.

      iex> {:error, %SnakeBridge.ConversionError{term: %URI{}, path: [{:arg, 0}]}} =
      ...>   SnakeBridge.call("builtins", "repr", [%URI{host: "example.com"}])
  """

  @doc "A term SnakeBridge can convert, standing for `struct`."
  @spec encode(struct()) :: term()
  def encode(struct)
end
