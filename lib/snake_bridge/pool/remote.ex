defmodule SnakeBridge.Pool.Remote do
  @moduledoc false
  # Both ends of an operation that runs on another node.
  #
  # The caller spawns (and monitors) a process on the worker node that runs the
  # operation there through the worker's own executor and exits with the answer. While
  # the caller waits:
  #   * Python's output is written by the worker-side process to its group leader,
  #     which is the caller's (a spawned process inherits it across nodes);
  #   * an Elixir function Python calls runs in the caller: the worker-side process
  #     forwards `{alias, :callback, id, fun, args, from}` to the caller's alias and
  #     the caller answers `{alias, :callback_reply, id, reply}`;
  #   * the caller's death (or its node's disconnection) stops the worker-side process
  #     (it monitors the caller once the job has run 5 ms), which cancels the Python job
  #     (the job watches the process that submitted it);
  #   * the worker's death is a `DOWN` of that process: `{:error, {:worker_down, reason}}`.
  # Refs in an answer are kept alive on the worker until the caller's node collects
  # them (see Keeper).

  alias SnakeBridge.{Executor, Native, Pool}

  # How much longer than the worker's own deadline (timeout + its 100 ms grace) the
  # caller waits before it kills the worker-side process.
  @margin 1_000

  # --------------------------------------------------------------- caller side

  def call(node, request, route, timeout) do
    # As :erpc does: an asynchronous remote spawn (an error is the only reply), the
    # answer in the exit reason of the spawned process (its DOWN), and an alias for the
    # messages it sends during the call (callbacks), so nothing arrives after we stop
    # waiting.
    alias = :erlang.alias()
    Pool.busy(node, 1)

    req =
      :erlang.spawn_request(
        node,
        __MODULE__,
        :serve,
        [self(), alias, request, route, timeout],
        [{:reply, :error_only}, :monitor]
      )

    try do
      await(req, alias, wait_ms(timeout))
    after
      # The refs of the request (their handles) live until the answer is in.
      hold(request)
      SnakeBridge.Callback.stop(alias)
      :erlang.unalias(alias)
      Pool.busy(node, -1)
    end
  end

  @doc false
  # A node we are not connected to is tried once (a restarted or unreachable worker
  # fails here, without a remote spawn that logs its failure).
  def connected?(node) do
    node in :erlang.nodes(:connected) or :net_kernel.connect_node(node) == true
  end

  @doc false
  def down, do: {:error, {:worker_down, :noconnection}}

  @doc false
  # On a worker: the arguments of an Elixir function Python calls, for a caller on
  # another node; refs among them are kept here for it (as an answer's are).
  def pack(caller, args) do
    case SnakeBridge.Pool.Keeper.keep(caller, args) do
      nil -> args
      kept -> {:kept, args, kept}
    end
  end

  @doc false
  # On the caller's node: the arguments, their refs with this node's handle.
  def unpack({:kept, args, kept}), do: SnakeBridge.Pool.Keeper.attach(args, kept)
  def unpack(args), do: args

  @doc false
  # Keeps `term` alive up to here (an external call the compiler cannot drop).
  def hold(_term), do: :ok

  defp wait_ms(nil), do: :infinity
  defp wait_ms(ms) when ms + 100 + @margin < 0xFFFFFFFF, do: ms + 100 + @margin
  defp wait_ms(_), do: :infinity

  defp await(req, alias, wait) do
    receive do
      {:DOWN, ^req, :process, _, {^alias, :result, result, kept}} ->
        SnakeBridge.Pool.Keeper.attach(result, kept)

      {^alias, :callback, id, fun, args, from} ->
        reply = &send(from, {alias, :callback_reply, id, &1})
        SnakeBridge.Callback.start(alias, fun, unpack(args), reply)
        await(req, alias, wait)

      {:DOWN, ^req, :process, _, reason} ->
        flush(alias)
        {:error, {:worker_down, down_reason(reason)}}

      {:spawn_reply, ^req, :error, reason} ->
        {:error, {:worker_down, down_reason(reason)}}
    after
      # The worker stops the Python code at the deadline itself; this is for a worker
      # that cannot answer (overloaded, or a call blocked in C code).
      wait ->
        :erlang.demonitor(req, [:flush])
        :erlang.unalias(alias)
        flush(alias)
        {:error, :timeout}
    end
  end

  @doc false
  def down_reason(:noconnection), do: :noconnection
  def down_reason(reason), do: reason

  defp flush(tag) do
    receive do
      {^tag, :callback, _, _, _, _} -> flush(tag)
    after
      0 -> :ok
    end
  end

  @doc false
  # StreamRef.from_wire_format/1 of a stream that lives on `owner` (a node name).
  def lookup(owner, wire) do
    node = String.to_existing_atom(owner)
    {result, kept} = :erpc.call(node, __MODULE__, :lookup_here, [wire, self()])
    SnakeBridge.Pool.Keeper.attach(result, kept)
  rescue
    ArgumentError -> {:error, :unknown_stream}
  catch
    :error, {:erpc, reason} -> {:error, {:worker_down, down_reason(reason)}}
  end

  @doc false
  def lookup_here(wire, holder) do
    result = SnakeBridge.StreamRef.from_wire_format(wire)
    {result, SnakeBridge.Pool.Keeper.keep(holder, result)}
  end

  # --------------------------------------------------------------- worker side

  @doc false
  def serve(caller, alias, request, route, timeout) do
    result =
      alias
      |> Executor.run_for(alias, caller, request, route, timeout)
      |> Executor.elsewhere()

    exit({alias, :result, result, SnakeBridge.Pool.Keeper.keep(caller, result)})
  end

  @doc false
  # SnakeBridge.stream/5's producer for a caller on another node: chunks go to the
  # caller unacknowledged (the caller's acks come back here), so the window and byte
  # limits hold end to end.
  def stream(caller, tag, module, function, args, kwargs, ctx, limits) do
    cmref = Process.monitor(caller)

    case Native.stream_start(module, function, args, kwargs, ctx, self(), tag, limits) do
      {:ok, job} -> relay(job, caller, tag, cmref)
      {:error, _} = error -> send(caller, {tag, :done, error})
    end
  end

  defp relay(job, caller, tag, cmref) do
    receive do
      {^tag, :chunks, items} = msg ->
        case SnakeBridge.Pool.Keeper.keep(caller, items) do
          nil -> send(caller, msg)
          kept -> send(caller, {tag, :chunks, items, kept})
        end

        relay(job, caller, tag, cmref)

      {^tag, :ack} ->
        Native.stream_ack(job, 1)
        relay(job, caller, tag, cmref)

      {^tag, :done, _} = msg ->
        send(caller, msg)

      {^tag, :io, device, text} ->
        Executor.write(device, text)
        relay(job, caller, tag, cmref)

      {^tag, :callback, id, fun, args} ->
        send(caller, {tag, :callback, id, fun, pack(caller, args), self()})
        relay(job, caller, tag, cmref)

      {^tag, :callback_reply, id, reply} ->
        Native.callback_reply(id, reply)
        relay(job, caller, tag, cmref)

      {^tag, :stop} ->
        SnakeBridge.Streamer.stop(job, tag)
        send(caller, {tag, :stopped})

      {:DOWN, ^cmref, :process, _, _} ->
        SnakeBridge.Streamer.stop(job, tag)
    end
  end
end

defmodule SnakeBridge.Pool.Keeper do
  @moduledoc false
  # Keeps alive, on a worker node, the objects returned to another node: a resource
  # lives while a term of its own node holds it, and the copy on the caller's node does
  # not count. The objects of one answer are kept under a key; the caller's node gives
  # the refs of that answer a handle of its own (a NIF resource, `attach/2`) whose
  # collection there sends `{:release, node, key}` to that node's Releaser, which tells
  # this keeper. Everything kept for a node is dropped when that node disconnects.

  use GenServer

  alias SnakeBridge.{Ref, StreamRef}

  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @doc false
  # On the worker: keeps the objects of `term` for `holder`'s node; the key, or nil
  # when there is nothing to keep.
  def keep(holder, term) when node(holder) != node() do
    case resources(term, []) do
      [] ->
        nil

      resources ->
        key = :erlang.unique_integer([:positive])
        GenServer.cast(__MODULE__, {:keep, key, node(holder), resources})
        {node(), key}
    end
  end

  def keep(_holder, _term), do: nil

  @doc false
  # On the caller's node: gives the refs of an answer the handle that releases them.
  def attach(term, nil), do: term

  def attach(term, kept) do
    releaser = Process.whereis(SnakeBridge.Pool.Releaser)
    put_handle(term, SnakeBridge.Native.remote_handle(releaser, kept))
  end

  defp put_handle(%Ref{} = ref, h), do: %{ref | handle: h}
  defp put_handle(%StreamRef{} = ref, h), do: %{ref | handle: h}
  defp put_handle([x | rest], h), do: [put_handle(x, h) | put_handle(rest, h)]

  defp put_handle(t, h) when is_tuple(t) and tuple_size(t) > 0,
    do: t |> Tuple.to_list() |> put_handle(h) |> List.to_tuple()

  defp put_handle(%_{} = s, _h), do: s

  defp put_handle(m, h) when is_map(m) and map_size(m) > 0,
    do: Map.new(m, fn {k, v} -> {put_handle(k, h), put_handle(v, h)} end)

  defp put_handle(x, _h), do: x

  @doc false
  # How many objects are kept (for tests and benchmarks).
  def count, do: GenServer.call(__MODULE__, :count)

  defp resources(%Ref{resource: r}, acc), do: [r | acc]
  defp resources(%StreamRef{resource: r}, acc), do: [r | acc]
  defp resources([h | t], acc), do: resources(t, resources(h, acc))

  defp resources(t, acc) when is_tuple(t) and tuple_size(t) > 0,
    do: resources(Tuple.to_list(t), acc)

  defp resources(%_{}, acc), do: acc
  defp resources(m, acc) when is_map(m) and map_size(m) > 0, do: resources(Map.to_list(m), acc)
  defp resources(_, acc), do: acc

  @impl true
  def init(nil) do
    :ok = :net_kernel.monitor_nodes(true, node_type: :all)
    {:ok, %{}}
  end

  @impl true
  def handle_cast({:keep, key, node, resources}, kept),
    do: {:noreply, Map.put(kept, key, {node, length(resources), resources})}

  def handle_cast({:release, key}, kept) do
    # A resource is released when the last term holding it is collected, and this
    # process may not collect for a long time: a collection follows releases (one per
    # 50 ms at most).
    unless Process.get(:gc_due), do: Process.send_after(self(), :gc, 50)
    Process.put(:gc_due, true)
    {:noreply, Map.delete(kept, key)}
  end

  @impl true
  def handle_call(:count, _from, kept) do
    {:reply, Enum.reduce(kept, 0, fn {_, {_, n, _}}, acc -> acc + n end), kept}
  end

  @impl true
  def handle_info({:nodedown, node, _}, kept) do
    {:noreply, Map.reject(kept, fn {_, {n, _, _}} -> n == node end), :hibernate}
  end

  def handle_info(:gc, kept) do
    Process.delete(:gc_due)
    :erlang.garbage_collect()
    {:noreply, kept}
  end

  def handle_info(_msg, kept), do: {:noreply, kept}
end

defmodule SnakeBridge.Pool.Releaser do
  @moduledoc false
  # Gets `{node, key}` from the NIF when this node collects the handle of refs that live
  # on `node`, and tells that node's Keeper.

  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @impl true
  def init(nil), do: {:ok, nil}

  @impl true
  def handle_info({node, key}, state) when is_atom(node) do
    GenServer.cast({SnakeBridge.Pool.Keeper, node}, {:release, key})
    {:noreply, state}
  end

  def handle_info(_msg, state), do: {:noreply, state}
end
