# Structs for test/values_test.exs, compiled with the project (so the protocol is
# consolidated with their SnakeBridge.Encoder implementations, as in an application).

defmodule SnakeBridge.ValuesTest.Point do
  @moduledoc false
  defstruct [:x, :y]
end

defimpl SnakeBridge.Encoder, for: SnakeBridge.ValuesTest.Point do
  def encode(%{x: x, y: y}), do: %{"x" => x, "y" => y}
end

defmodule SnakeBridge.ValuesTest.Celsius do
  @moduledoc false
  defstruct [:degrees]
end

# Encodes to another struct with an encoder: encoded in turn.
defimpl SnakeBridge.Encoder, for: SnakeBridge.ValuesTest.Celsius do
  def encode(%{degrees: d}), do: %SnakeBridge.ValuesTest.Point{x: d, y: "C"}
end

defmodule SnakeBridge.ValuesTest.Loop do
  @moduledoc false
  defstruct [:n]
end

defimpl SnakeBridge.Encoder, for: SnakeBridge.ValuesTest.Loop do
  def encode(%{n: n}), do: %SnakeBridge.ValuesTest.Loop{n: n + 1}
end

defmodule SnakeBridge.ValuesTest.NoEncoder do
  @moduledoc false
  defstruct [:a]
end
