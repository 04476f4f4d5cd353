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
  #     forwards `Messages.remote_callback(alias, id, fun, args, from)` to the caller's alias and
  #     the caller answers `Messages.callback_reply(alias, id, reply)`;
  #   * the caller's death (or its node's disconnection) stops the worker-side process
  #     (it monitors the caller once the job has run 5 ms), which cancels the Python job
  #     (the job watches the process that submitted it);
  #   * the worker's death is a `DOWN` of that process: `{:error, {:worker_down, reason}}`.
  # Refs in an answer are kept alive on the worker until the caller's node collects
  # them (see Keeper).

  alias SnakeBridge.{Executor, Native, Pool}
  require SnakeBridge.Messages, as: Messages

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
      SnakeBridge.ElixirCalls.stop(alias)
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
      {:DOWN, ^req, :process, _, Messages.remote_result(^alias, result, kept)} ->
        SnakeBridge.Pool.Keeper.attach(result, kept)

      Messages.remote_callback(^alias, id, fun, args, from) ->
        reply = &send(from, Messages.callback_reply(alias, id, &1))
        SnakeBridge.ElixirCalls.start(alias, fun, unpack(args), reply)
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
      Messages.remote_callback(^tag, _, _, _, _) -> flush(tag)
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

    exit(Messages.remote_result(alias, result, SnakeBridge.Pool.Keeper.keep(caller, result)))
  end

  @doc false
  # SnakeBridge.stream/5's producer for a caller on another node: chunks go to the
  # caller unacknowledged (the caller's acks come back here), so the window and byte
  # limits hold end to end.
  def stream(caller, tag, module, function, args, kwargs, ctx, limits) do
    cmref = Process.monitor(caller)

    case Native.stream_start(module, function, args, kwargs, ctx, self(), tag, limits) do
      {:ok, job} -> relay(job, caller, tag, cmref)
      {:error, _} = error -> send(caller, Messages.done(tag, error))
    end
  end

  defp relay(job, caller, tag, cmref) do
    receive do
      Messages.chunks(^tag, items) = msg ->
        case SnakeBridge.Pool.Keeper.keep(caller, items) do
          nil -> send(caller, msg)
          kept -> send(caller, Messages.chunks(tag, items, kept))
        end

        relay(job, caller, tag, cmref)

      Messages.ack(^tag) ->
        Native.stream_ack(job, 1)
        relay(job, caller, tag, cmref)

      Messages.done(^tag, _) = msg ->
        send(caller, msg)

      Messages.io(^tag, device, text) ->
        Executor.write(device, text)
        relay(job, caller, tag, cmref)

      Messages.callback(^tag, id, fun, args) ->
        send(caller, Messages.remote_callback(tag, id, fun, pack(caller, args), self()))
        relay(job, caller, tag, cmref)

      Messages.callback_reply(^tag, id, reply) ->
        Native.callback_reply(id, reply)
        relay(job, caller, tag, cmref)

      Messages.stop(^tag) ->
        SnakeBridge.Streamer.stop(job, tag)
        send(caller, Messages.stopped(tag))

      {:DOWN, ^cmref, :process, _, _} ->
        SnakeBridge.Streamer.stop(job, tag)
    end
  end
end
