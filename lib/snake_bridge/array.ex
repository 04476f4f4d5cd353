defmodule SnakeBridge.Array do
  @moduledoc """
  A numeric array as a binary: `data` holds the elements in C (row-major) order and this
  machine's byte order, `type` is Nx's type tuple, `shape` a tuple of sizes.

      %SnakeBridge.Array{data: <<1.0::float-64-native, 2.0::float-64-native>>, type: {:f, 64}, shape: {2}}

  With Nx (SnakeBridge does not depend on it):

      tensor = a.data |> Nx.from_binary(a.type) |> Nx.reshape(a.shape)
      back = %SnakeBridge.Array{data: Nx.to_binary(tensor), type: Nx.type(tensor), shape: Nx.shape(tensor)}

  ## From Python

  `from_ref/2`, or `__runtime__: [arrays: true]` on a call, turn any object with a
  numeric buffer (a numpy array of any rank, an `array.array`, a `memoryview`) into an
  Array. A buffer that is not contiguous (a slice with a step, a transposed array) is
  copied into C order. One of 64 KiB or more that is contiguous is not copied at all: the
  binary is the array's own memory, and holds the array alive until the binary is
  garbage collected. Python code that writes into that array afterwards changes what the
  binary reads, so do not write to an array whose Array you keep (or copy it first,
  `:binary.copy/1`, or `arr.copy()` in Python).

  Types: numpy's `int8`..`int64` are `{:s, 8}`..`{:s, 64}`, `uint8`..`uint64` are
  `{:u, 8}`..`{:u, 64}`, `float16`/`float32`/`float64` are `{:f, 16}`/`{:f, 32}`/`{:f, 64}`,
  `complex64`/`complex128` are `{:c, 64}`/`{:c, 128}`; `bool` is `{:u, 8}` (0 or 1), as in
  Nx. Big-endian data is swapped to this machine's order (a copy). Dtypes without a
  buffer format (`datetime64`, `object`, strings, records) are refused.

  ## To Python

  An Array argument becomes a read-only numpy array of its type and shape (a
  `memoryview` of that format and shape when numpy is not installed). The bytes of one
  of 64 KiB or more are shared with the binary, never copied (the binary stays alive
  while Python holds the array); smaller ones are copied. Use `arr.copy()` in Python for
  a writable one. `{:bf, 16}` has no Python format and is refused.
  """

  import Bitwise

  @enforce_keys [:data, :type, :shape]
  defstruct [:data, :type, :shape]

  @typedoc "Nx's type tuple."
  @type type ::
          {:s, 8 | 16 | 32 | 64}
          | {:u, 8 | 16 | 32 | 64}
          | {:f, 16 | 32 | 64}
          | {:c, 64 | 128}

  @type t :: %__MODULE__{data: binary(), type: type(), shape: tuple()}

  @typedoc "An element as `to_list/1` gives it."
  @type element :: number() | :infinity | :neg_infinity | :nan | SnakeBridge.Complex.t()

  @doc """
  An Array of `data` with `type` and `shape`, checked: the data must hold exactly the
  elements the shape says (raises `ArgumentError` otherwise).

      iex> SnakeBridge.Array.new(<<1, 2, 3, 4, 5, 6>>, {:u, 8}, {2, 3})
      %SnakeBridge.Array{data: <<1, 2, 3, 4, 5, 6>>, type: {:u, 8}, shape: {2, 3}}
  """
  @spec new(binary(), type(), tuple()) :: t()
  def new(data, type, shape) when is_binary(data) and is_tuple(shape) do
    bits = bits!(type)
    dims = Tuple.to_list(shape)

    unless Enum.all?(dims, &(is_integer(&1) and &1 >= 0)),
      do:
        raise(
          ArgumentError,
          "shape must be a tuple of non-negative integers, got: #{inspect(shape)}"
        )

    count = Enum.product(dims)

    unless byte_size(data) == div(count * bits, 8) do
      raise ArgumentError,
            "#{byte_size(data)} bytes are not #{count} elements of #{inspect(type)} " <>
              "(shape #{inspect(shape)}: #{div(count * bits, 8)} bytes)"
    end

    %__MODULE__{data: data, type: type, shape: shape}
  end

  def new(data, type, shape),
    do:
      raise(
        ArgumentError,
        "SnakeBridge.Array.new/3 takes a binary, a type and a shape tuple, got: " <>
          inspect({data, type, shape}, limit: 10)
      )

  defp bits!({kind, bits} = type) do
    valid =
      case kind do
        k when k in [:s, :u] -> bits in [8, 16, 32, 64]
        :f -> bits in [16, 32, 64]
        :c -> bits in [64, 128]
        _ -> false
      end

    if valid,
      do: bits,
      else:
        raise(
          ArgumentError,
          "not an Array type: #{inspect(type)} (Nx's {:s | :u | :f | :c, bits})"
        )
  end

  defp bits!(type),
    do:
      raise(ArgumentError, "not an Array type: #{inspect(type)} (Nx's {:s | :u | :f | :c, bits})")

  @doc """
  The Array of a Python object with a numeric buffer (a numpy array, an `array.array`, a
  `memoryview`). `opts` takes `__runtime__: [...]` (see `SnakeBridge.Runtime`).

  Returns `{:ok, array}`, or `{:error, %SnakeBridge.PythonError{}}` for an object without
  a numeric buffer (a `TypeError`; a `ValueError` from numpy for a dtype it cannot export).

      iex> {:ok, a} = SnakeBridge.call("array", "array", ["i", [1, 2, 3]])
      iex> SnakeBridge.Array.from_ref(a)
      {:ok, %SnakeBridge.Array{data: <<1::32-native, 2::32-native, 3::32-native>>, type: {:s, 32}, shape: {3}}}
      iex> {:error, %SnakeBridge.PythonError{type: "TypeError"}} =
      ...>   SnakeBridge.Array.from_ref(SnakeBridge.call!("builtins", "object", []))
  """
  @spec from_ref(SnakeBridge.Ref.t(), keyword()) ::
          {:ok, t()} | {:error, SnakeBridge.Error.reason()}
  def from_ref(ref, opts \\ [])

  def from_ref(%SnakeBridge.Ref{} = ref, opts) when is_list(opts) do
    runtime = SnakeBridge.Runtime.runtime_only!("SnakeBridge.Array.from_ref/2", opts)

    carried =
      Enum.reject([session_id: ref.session_id, pool_name: ref.pool_name], &is_nil(elem(&1, 1)))

    runtime = carried |> Keyword.merge(runtime) |> Keyword.put(:arrays, :strict)
    SnakeBridge.Runtime.invoke("builtins", "builtins", "memoryview", [ref], __runtime__: runtime)
  end

  def from_ref(ref, opts),
    do: SnakeBridge.Runtime.bad_args!("SnakeBridge.Array.from_ref/2", ref: ref, opts: opts)

  @doc "Like `from_ref/2`, but returns the Array or raises."
  @spec from_ref!(SnakeBridge.Ref.t(), keyword()) :: t()
  def from_ref!(ref, opts \\ []), do: SnakeBridge.Error.ok!(from_ref(ref, opts))

  @doc """
  The elements as nested lists, one level per dimension (a rank-0 Array is its one
  element). Floats that are not finite are `:infinity`, `:neg_infinity` and `:nan`, as
  everywhere in SnakeBridge; complex elements are `SnakeBridge.Complex` structs.

      iex> SnakeBridge.Array.to_list(SnakeBridge.Array.new(<<1, 2, 3, 4, 5, 6>>, {:u, 8}, {2, 3}))
      [[1, 2, 3], [4, 5, 6]]
      iex> SnakeBridge.Array.to_list(SnakeBridge.Array.new(<<-1::16-signed-native>>, {:s, 16}, {}))
      -1
  """
  @spec to_list(t()) :: element() | list()
  def to_list(%__MODULE__{data: data, type: type, shape: shape}) do
    elements = decode(data, type, [])

    case Tuple.to_list(shape) do
      [] -> hd(elements)
      dims -> nest(elements, dims)
    end
  end

  defp nest(elements, [_]), do: elements

  defp nest(elements, [n | inner]) do
    case Enum.product(inner) do
      0 -> List.duplicate(nest([], inner), n)
      size -> elements |> Enum.chunk_every(size) |> Enum.map(&nest(&1, inner))
    end
  end

  defp decode(<<>>, _type, acc), do: Enum.reverse(acc)

  defp decode(data, {:s, bits}, acc) do
    <<x::size(bits)-signed-native, rest::binary>> = data
    decode(rest, {:s, bits}, [x | acc])
  end

  defp decode(data, {:u, bits}, acc) do
    <<x::size(bits)-unsigned-native, rest::binary>> = data
    decode(rest, {:u, bits}, [x | acc])
  end

  defp decode(data, {:f, bits}, acc) do
    <<x::binary-size(div(bits, 8)), rest::binary>> = data
    decode(rest, {:f, bits}, [float(x, bits) | acc])
  end

  defp decode(data, {:c, bits}, acc) do
    half = div(bits, 2)
    <<re::binary-size(div(half, 8)), im::binary-size(div(half, 8)), rest::binary>> = data

    decode(rest, {:c, bits}, [
      %SnakeBridge.Complex{re: float(re, half), im: float(im, half)} | acc
    ])
  end

  # The BEAM has no non-finite floats: they are matched by their bits.
  defp float(bin, bits) do
    case bin do
      <<x::float-size(bits)-native>> -> x
      _ -> non_finite(bin, bits)
    end
  end

  defp non_finite(bin, bits) do
    <<n::size(bits)-unsigned-native>> = bin
    exp_bits = %{16 => 5, 32 => 8, 64 => 11}[bits]
    mantissa = n &&& (1 <<< (bits - 1 - exp_bits)) - 1
    negative = n >>> (bits - 1) == 1

    cond do
      mantissa != 0 -> :nan
      negative -> :neg_infinity
      true -> :infinity
    end
  end
end
