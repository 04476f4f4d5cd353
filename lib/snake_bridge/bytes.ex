defmodule SnakeBridge.Bytes do
  @moduledoc """
  A binary to be sent to Python as `bytes` (make one with `SnakeBridge.bytes/1`).

  A plain binary becomes a Python `str` when it is valid UTF-8; wrapped in this struct it
  is always `bytes`. Python `bytes` come back as plain binaries.

      iex> SnakeBridge.call("hashlib", "sha256", [SnakeBridge.bytes("abc")]) |> elem(0)
      :ok
      iex> SnakeBridge.call("builtins", "type", [SnakeBridge.bytes("abc")]) |> elem(1) |> inspect()
      "#SnakeBridge.Ref<<class 'bytes'>>"
  """
  @enforce_keys [:data]
  defstruct [:data]

  @type t :: %__MODULE__{data: binary()}
end
