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
  #   * the caller's death (or its node's disconnection) stops the worker-side process,
  #     which cancels the Python job (the job watches the process that submitted it);
  #   * the worker's death is a `DOWN` of that process: `{:error, {:worker_down, reason}}`.
  # Refs in an answer are kept alive on the worker for the caller (see Keeper).

  alias SnakeBridge.{Executor, Native, Pool}

  # How much longer than the worker's own deadline (timeout + its 100 ms grace) the
  # caller waits before it kills the worker-side process.
  @margin 1_000

  # --------------------------------------------------------------- caller side

  def call(node, op, request, route, timeout) do
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
        [self(), alias, op, request, route, timeout],
        [{:reply, :error_only}, :monitor]
      )

    try do
      await(req, alias, wait_ms(timeout))
    after
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

  defp wait_ms(nil), do: :infinity
  defp wait_ms(ms) when ms + 100 + @margin < 0xFFFFFFFF, do: ms + 100 + @margin
  defp wait_ms(_), do: :infinity

  defp await(req, alias, wait) do
    receive do
      {:DOWN, ^req, :process, _, {^alias, :result, result}} ->
        result

      {^alias, :callback, id, fun, args, from} ->
        send(from, {alias, :callback_reply, id, Executor.callback_result(fun, args)})
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

  # --------------------------------------------------------------- worker side

  @doc false
  def serve(caller, alias, op, request, route, timeout) do
    cmref = Process.monitor(caller)
    result = Executor.run_for(alias, alias, cmref, op, request, route, timeout)
    SnakeBridge.Pool.Keeper.keep(caller, result)
    exit({alias, :result, result})
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
        SnakeBridge.Pool.Keeper.keep(caller, items)
        send(caller, msg)
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
        send(caller, {tag, :callback, id, fun, args, self()})
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
  # Keeps alive, on a worker node, the objects returned to processes of other nodes:
  # a resource lives while a local term holds it, and the caller's copy (on its own
  # node) does not. They are dropped when the holder process exits or its node
  # disconnects (a monitor), or when `release/1` is called for the holder.

  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  def keep(holder, term) when node(holder) != node() do
    case resources(term, []) do
      [] -> :ok
      resources -> GenServer.cast(__MODULE__, {:keep, holder, resources})
    end
  end

  def keep(_holder, _term), do: :ok

  @doc false
  # How many objects are kept, per holder (for tests and benchmarks).
  def count do
    GenServer.call(__MODULE__, :count)
  end

  defp resources(%SnakeBridge.Ref{resource: r}, acc), do: [r | acc]
  defp resources(%SnakeBridge.StreamRef{resource: r}, acc), do: [r | acc]
  defp resources([h | t], acc), do: resources(t, resources(h, acc))

  defp resources(t, acc) when is_tuple(t) and tuple_size(t) > 0,
    do: resources(Tuple.to_list(t), acc)

  defp resources(%_{}, acc), do: acc
  defp resources(m, acc) when is_map(m) and map_size(m) > 0, do: resources(Map.to_list(m), acc)
  defp resources(_, acc), do: acc

  @impl true
  def init(nil), do: {:ok, %{}}

  @impl true
  def handle_cast({:keep, holder, resources}, holders) do
    holders =
      case holders do
        %{^holder => {mref, n, kept}} ->
          %{holders | holder => {mref, n + length(resources), [resources | kept]}}

        _ ->
          Map.put(holders, holder, {Process.monitor(holder), length(resources), [resources]})
      end

    {:noreply, holders}
  end

  def handle_cast({:release, holder}, holders) do
    case Map.pop(holders, holder) do
      {{mref, _, _}, holders} ->
        Process.demonitor(mref, [:flush])
        {:noreply, holders, :hibernate}

      {nil, holders} ->
        {:noreply, holders}
    end
  end

  @impl true
  def handle_call(:count, _from, holders) do
    {:reply, Enum.reduce(holders, 0, fn {_, {_, n, _}}, acc -> acc + n end), holders}
  end

  @impl true
  # Hibernating collects the dropped resources now (they are released when the last
  # term holding them is collected, and this process may not collect for a long time).
  def handle_info({:DOWN, _mref, :process, holder, _}, holders),
    do: {:noreply, Map.delete(holders, holder), :hibernate}

  def handle_info(_msg, holders), do: {:noreply, holders}
end
