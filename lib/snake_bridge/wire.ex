defmodule SnakeBridge.Wire do
  @moduledoc """
  JSON for wire maps such as `SnakeBridge.StreamRef.to_wire_format/1` (serde_json in the
  NIF, so no JSON package is needed).

      iex> {:ok, json} = SnakeBridge.Wire.encode(%{"__type__" => "stream_ref", "__schema__" => 1})
      iex> SnakeBridge.Wire.decode(json)
      {:ok, %{"__type__" => "stream_ref", "__schema__" => 1}}
  """

  alias SnakeBridge.{Native, Runtime}

  @doc "Encodes maps, lists, strings, numbers, booleans and nil (atoms become strings)."
  @spec encode(term()) :: {:ok, String.t()} | {:error, SnakeBridge.Error.reason()}
  def encode(term), do: term |> Native.wire_encode() |> Runtime.result()

  @doc "Decodes JSON; objects become maps with string keys."
  @spec decode(String.t()) :: {:ok, term()} | {:error, SnakeBridge.Error.reason()}
  def decode(json) when is_binary(json), do: json |> Native.wire_decode() |> Runtime.result()
  def decode(json), do: Runtime.bad_args!("SnakeBridge.Wire.decode/1", json: json)
end
