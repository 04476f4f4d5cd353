defmodule SnakeBridge.Complex do
  @moduledoc """
  A complex number: Python's `complex` and numpy's complex scalars come back as this
  struct, and it goes to Python as a `complex`. Each part is a float, or `:infinity`,
  `:neg_infinity`, `:nan` (as floats are everywhere in SnakeBridge); an integer part is
  taken as a float when sent. The `complex` package's `%Complex{re: re, im: im}` (Nx's)
  is sent as a Python `complex` too.

      iex> SnakeBridge.eval("complex(1, -2)")
      {:ok, %SnakeBridge.Complex{re: 1.0, im: -2.0}}
      iex> SnakeBridge.eval("z * 1j", %{z: SnakeBridge.Complex.new(1, 2)})
      {:ok, %SnakeBridge.Complex{re: -2.0, im: 1.0}}
  """

  @enforce_keys [:re, :im]
  defstruct [:re, :im]

  @typedoc "A part: a float, or a non-finite float's atom."
  @type part :: float() | :infinity | :neg_infinity | :nan

  @type t :: %__MODULE__{re: part(), im: part()}

  @doc """
  The complex number `re + im·i` (integers become floats).

      iex> SnakeBridge.Complex.new(3, 0.5)
      %SnakeBridge.Complex{re: 3.0, im: 0.5}
  """
  @spec new(number() | part(), number() | part()) :: t()
  def new(re, im), do: %__MODULE__{re: part!(re), im: part!(im)}

  defp part!(x) when is_integer(x), do: x / 1
  defp part!(x) when is_float(x) or x in [:infinity, :neg_infinity, :nan], do: x

  defp part!(x),
    do:
      raise(
        ArgumentError,
        "a complex part must be a number, :infinity, :neg_infinity or :nan, got: #{inspect(x)}"
      )
end
