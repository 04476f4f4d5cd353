defmodule SnakeBridge.Encoding do
  @moduledoc false
  # The retry of a call whose arguments hold structs with a SnakeBridge.Encoder.

  @known [
    Date,
    DateTime,
    NaiveDateTime,
    Time,
    MapSet,
    SnakeBridge.Bytes,
    SnakeBridge.Decimal,
    SnakeBridge.Iter,
    SnakeBridge.Ref,
    SnakeBridge.StreamRef
  ]

  # An encode/1 result may hold structs to encode in turn, this many times at most.
  @max_depth 100

  @doc false
  # Runs `send.(args, kwargs)`; when the NIF refused a struct that has an encoder, runs it
  # once more with every encodable struct encoded. Any other result is returned as is.
  def with_encoders(args, kwargs, send) do
    case send.(args, kwargs) do
      {:error, _} = refused -> retry(refused, args, kwargs, send)
      result -> result
    end
  end

  @doc false
  # The retry alone, for callers that make the first attempt themselves (no closure on
  # the call path).
  def retry({:error, {:unconvertible, %{__struct__: mod}, _path}} = refused, args, kwargs, send) do
    if encoder(mod), do: send.(encode(args), encode(kwargs)), else: refused
  end

  def retry(refused, _args, _kwargs, _send), do: refused

  defp encoder(mod) when mod in @known, do: nil

  defp encoder(mod) when is_atom(mod) do
    impl = Module.concat(SnakeBridge.Encoder, mod)

    if Code.ensure_loaded?(impl) and function_exported?(impl, :encode, 1) and
         function_exported?(impl, :__impl__, 1) and
         impl.__impl__(:protocol) == SnakeBridge.Encoder,
       do: impl
  end

  defp encoder(_), do: nil

  @doc false
  # `term` with every struct that has an encoder encoded. Each struct module's encoder is
  # looked up once per walk (a module that does not exist costs a code path search).
  def encode(term) do
    encode(term, 0)
  after
    for mod <- Process.delete({__MODULE__, :seen}) || [], do: Process.delete({__MODULE__, mod})
  end

  defp cached_encoder(mod) do
    case Process.get({__MODULE__, mod}, :unknown) do
      :unknown ->
        impl = encoder(mod)
        Process.put({__MODULE__, mod}, impl)
        Process.put({__MODULE__, :seen}, [mod | Process.get({__MODULE__, :seen}, [])])
        impl

      impl ->
        impl
    end
  end

  defp encode(_term, depth) when depth > @max_depth, do: raise_depth()

  # `depth` counts encode/1 calls in a chain (nesting needs no bound here: the NIF has one).
  defp encode(%MapSet{} = set, depth), do: MapSet.new(set, &encode(&1, depth))

  defp encode(%{__struct__: mod} = struct, depth) do
    case cached_encoder(mod) do
      nil -> struct
      impl -> encode(impl.encode(struct), depth + 1)
    end
  end

  defp encode(map, depth) when is_map(map),
    do: Map.new(map, fn {k, v} -> {encode(k, depth), encode(v, depth)} end)

  defp encode(list, depth) when is_list(list), do: encode_list(list, depth)

  defp encode(tuple, depth) when is_tuple(tuple),
    do: tuple |> Tuple.to_list() |> encode_list(depth) |> List.to_tuple()

  defp encode(other, _depth), do: other

  # Improper lists keep their tail (the NIF refuses them as before).
  defp encode_list([head | tail], depth), do: [encode(head, depth) | encode_list(tail, depth)]
  defp encode_list(tail, _depth), do: tail

  defp raise_depth,
    do:
      raise(
        ArgumentError,
        "SnakeBridge.Encoder: more than #{@max_depth} encode/1 calls in a chain " <>
          "(an encode/1 that returns its own kind of struct?)"
      )
end
