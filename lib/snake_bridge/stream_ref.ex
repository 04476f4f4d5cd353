defmodule SnakeBridge.StreamRef do
  @moduledoc """
  A lazy handle on a Python iterator, generator or async generator.

  Iteration is stateful: each item is produced by Python when it is asked for, and a
  second `Enum.take/2` continues where the first stopped.

      iex> {:ok, counter} = SnakeBridge.call("itertools", "count", [1])
      iex> Enum.take(counter, 3)
      [1, 2, 3]
      iex> Enum.take(counter, 2)
      [4, 5]

  The iterator is closed (a generator's `finally` runs) when the BEAM collects the last
  copy of the StreamRef.

  Fields: `stream_type` is `"generator"`, `"iterator"` or `"async_generator"`;
  `type_name` and `python_module` name the Python type (`"count"`, `"itertools"`);
  `session_id` and `pool_name` come from the call that made it; `exhausted` is true once
  the end was seen when the struct was made (`exhausted?/1` asks now); `batch` is the
  number of items pulled per step (see `stream_batch` in `SnakeBridge.Runtime`).

  Errors raised by Python during enumeration raise `SnakeBridge.PythonError`; `next/2`
  and `next_batch/3` return them instead.
  """

  alias SnakeBridge.{Executor, Native, Runtime}

  defstruct [
    :ref_id,
    :session_id,
    :pool_name,
    :stream_type,
    :type_name,
    :python_module,
    :library,
    :resource,
    :handle,
    exhausted: false,
    batch: 1
  ]

  @type stream_type :: String.t()
  @type t :: %__MODULE__{
          ref_id: String.t(),
          session_id: String.t(),
          pool_name: atom() | String.t() | nil,
          stream_type: stream_type(),
          type_name: String.t(),
          python_module: String.t(),
          library: String.t() | nil,
          resource: reference(),
          handle: reference() | nil,
          exhausted: boolean(),
          batch: pos_integer()
        }

  @doc """
  The next item: `{:ok, item}`, `{:error, :stop_iteration}` at the end (and on every
  later call), or `{:error, reason}`. Option `:timeout` (ms) bounds the time Python may
  take for this item. Same as `SnakeBridge.Runtime.stream_next/2`.

      iex> {:ok, it} = SnakeBridge.call("builtins", "iter", [["a", "b"]])
      iex> SnakeBridge.StreamRef.next(it)
      {:ok, "a"}
      iex> SnakeBridge.StreamRef.next(it, timeout: 1_000)
      {:ok, "b"}
      iex> SnakeBridge.StreamRef.next(it)
      {:error, :stop_iteration}
  """
  @spec next(t(), keyword()) :: {:ok, term()} | {:error, SnakeBridge.Error.reason()}
  def next(stream_ref, opts \\ [])

  def next(%__MODULE__{} = ref, opts) when is_list(opts), do: Runtime.stream_next(ref, opts)

  def next(ref, opts),
    do: Runtime.bad_args!("SnakeBridge.StreamRef.next/2", stream_ref: ref, opts: opts)

  @doc """
  Up to `max` items under one GIL acquisition: `{:ok, items}` (1 to `max`),
  `{:error, :stop_iteration}` at the end, or `{:error, reason}`. Items not asked for are
  never pulled. Option `:timeout` as in `next/2`. Same as
  `SnakeBridge.Runtime.stream_next_batch/3`.

      iex> {:ok, it} = SnakeBridge.call("builtins", "iter", [[1, 2, 3]])
      iex> SnakeBridge.StreamRef.next_batch(it, 2)
      {:ok, [1, 2]}
      iex> SnakeBridge.StreamRef.next_batch(it, 2)
      {:ok, [3]}
      iex> SnakeBridge.StreamRef.next_batch(it, 2)
      {:error, :stop_iteration}
  """
  @spec next_batch(t(), pos_integer(), keyword()) ::
          {:ok, [term()]} | {:error, SnakeBridge.Error.reason()}
  def next_batch(stream_ref, max, opts \\ [])

  def next_batch(%__MODULE__{} = ref, max, opts)
      when is_integer(max) and max > 0 and is_list(opts),
      do: Runtime.stream_next_batch(ref, max, opts)

  def next_batch(ref, max, opts),
    do:
      Runtime.bad_args!("SnakeBridge.StreamRef.next_batch/3",
        stream_ref: ref,
        max: max,
        opts: opts
      )

  @doc """
  The stream as its JSON-ready wire map (string keys; guides/streaming.md lists them). A
  stream that lives on another node
  (a pool worker) has one more key, `"node"`: the name of that node (`from_wire_format/1`
  on that node gives it back).

      iex> {:ok, gen} = SnakeBridge.call("builtins", "iter", [[1]])
      iex> wire = SnakeBridge.StreamRef.to_wire_format(gen)
      iex> Map.take(wire, ["__type__", "__schema__", "stream_type", "type_name"])
      %{"__type__" => "stream_ref", "__schema__" => 1, "stream_type" => "iterator", "type_name" => "list_iterator"}
  """
  @spec to_wire_format(t()) :: map()
  def to_wire_format(%__MODULE__{resource: res} = ref) when node(res) != node(),
    do:
      ref
      |> Map.put(:resource, nil)
      |> to_wire_format()
      |> Map.put("node", Atom.to_string(node(res)))

  def to_wire_format(%__MODULE__{} = ref) do
    %{
      "__type__" => "stream_ref",
      "__schema__" => 1,
      "id" => ref.ref_id,
      "session_id" => ref.session_id,
      "stream_type" => ref.stream_type,
      "type_name" => ref.type_name,
      "python_module" => ref.python_module
    }
  end

  @doc """
  The StreamRef a wire map names, while that stream is alive on this node (or, for a
  map with a `"node"` key, on that node: a pool worker).

  Ids are random (128 bits, a keyed hash): one id tells nothing about another. A wire map
  is honoured only with its own `session_id`: the same id under another session is
  `:unknown_stream`.

  Returns `{:ok, stream_ref}`, or `{:error, reason}`: `:unknown_stream` when no live
  stream of that session has the id, `{:unsupported_schema, v}`, or `:not_a_stream_ref`.
  """
  @spec from_wire_format(map()) :: {:ok, t()} | {:error, SnakeBridge.Error.reason()}
  def from_wire_format(%{"__type__" => "stream_ref", "__schema__" => 1, "node" => owner} = wire)
      when is_binary(owner) do
    if owner == Atom.to_string(node()),
      do: wire |> Map.delete("node") |> from_wire_format(),
      else: SnakeBridge.Pool.Remote.lookup(owner, Map.delete(wire, "node"))
  end

  def from_wire_format(%{"__type__" => "stream_ref", "__schema__" => 1, "id" => id} = wire)
      when is_binary(id) do
    case Map.get(wire, "session_id", SnakeBridge.Context.default_session()) do
      session when is_binary(session) -> Native.stream_lookup(id, session)
      _ -> {:error, :unknown_stream}
    end
  end

  def from_wire_format(%{"__type__" => "stream_ref", "__schema__" => v}),
    do: {:error, {:unsupported_schema, v}}

  def from_wire_format(_), do: {:error, :not_a_stream_ref}

  @doc """
  Whether Python has reported the end of the stream (the struct's `exhausted` field is
  the value at creation; this asks the native handle).
  """
  @spec exhausted?(t()) :: boolean()
  def exhausted?(%__MODULE__{} = ref) do
    {:ok, {_type, exhausted, _batch}} = info(ref)
    exhausted
  end

  defp info(ref), do: Executor.run(SnakeBridge.Request.info(ref), ref.session_id, nil)

  defimpl Inspect do
    def inspect(ref, _opts) do
      "#SnakeBridge.StreamRef<#{ref.stream_type} #{ref.python_module} #{ref.ref_id}>"
    end
  end

  defimpl Enumerable do
    alias SnakeBridge.{Executor, Request, Runtime}

    # Items come in the stream's batch size (1 unless `stream_batch` was set); items a
    # halted reduce did not use go back to the stream, so a later reduce continues exactly.
    # With batching (batches of more than one item), once a whole batch has been used the
    # next one is asked for before the items of the current one are used: Python
    # produces it meanwhile. `ahead` is nil (no batch used up yet), :used (one was), or
    # the request in flight, which is waited for before a halt, a suspension or a raise
    # gives items back, so no item is lost or reordered.
    def reduce(ref, acc, fun), do: step([], nil, ref, acc, fun)

    defp step(buf, ahead, ref, {:halt, acc}, _fun) do
      rest = buf ++ landed(ahead)
      if rest != [], do: run(Request.push_front(ref, rest), ref)
      {:halted, acc}
    end

    # Suspended (Stream.zip, ...): nothing stays in flight while the caller does other work.
    defp step(buf, ahead, ref, {:suspend, acc}, fun) do
      buf = buf ++ landed(ahead)
      {:suspended, acc, &step(buf, nil, ref, &1, fun)}
    end

    defp step([item | rest], ahead, ref, {:cont, acc}, fun) do
      next =
        try do
          fun.(item, acc)
        catch
          # Items pulled ahead and not used go back: a later enumeration gets them.
          kind, reason ->
            rest = rest ++ landed(ahead)
            if rest != [], do: run(Request.push_front(ref, rest), ref)
            :erlang.raise(kind, reason, __STACKTRACE__)
        end

      step(rest, ahead, ref, next, fun)
    end

    defp step([], ahead, ref, {:cont, acc}, fun) do
      result = if is_tuple(ahead), do: Executor.finish(ahead), else: next_batch(ref)

      case result do
        # Batching, and a batch was used up: ask for the next one now.
        {:ok, [_, _ | _] = items} when ahead != nil ->
          step(items, start(ref) || :used, ref, {:cont, acc}, fun)

        {:ok, [_, _ | _] = items} ->
          step(items, :used, ref, {:cont, acc}, fun)

        {:ok, items} ->
          step(items, nil, ref, {:cont, acc}, fun)

        {:error, :stop_iteration} ->
          {:done, acc}

        {:error, reason} ->
          Runtime.raise_error!({:error, reason})
      end
    end

    defp next_batch(ref), do: run(Request.next_batch(ref, 0), ref)

    defp start(ref), do: Executor.start(Request.next_batch(ref, 0), ref.session_id, nil)

    # The items of the batch in flight (none when there is none, at the end, or on an
    # error: the stream has ended then, and the error is dropped with the halt).
    defp landed(ahead) when not is_tuple(ahead), do: []

    defp landed(ahead) do
      case Executor.finish(ahead) do
        {:ok, items} -> items
        {:error, _} -> []
      end
    end

    defp run(request, ref), do: Executor.run(request, ref.session_id, nil)

    def count(%{stream_type: "iterator"} = ref) do
      case run(Request.len(ref), ref) do
        {:ok, n} -> {:ok, n}
        {:error, _} -> {:error, __MODULE__}
      end
    end

    def count(_ref), do: {:error, __MODULE__}
    def member?(_ref, _value), do: {:error, __MODULE__}
    def slice(_ref), do: {:error, __MODULE__}
  end
end
