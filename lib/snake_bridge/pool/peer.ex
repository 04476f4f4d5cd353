defmodule SnakeBridge.Pool.Peer do
  @moduledoc false
  # One worker slot of a `peers: n` pool: starts a BEAM node with OTP's :peer (see
  # SnakeBridge.Pool.Boot for its command line and setup), starts :snakebridge there, and
  # starts a new one when it dies. Each start gets a new node name (`..._<slot>_<gen>`),
  # so a ref of a dead worker can never reach its successor. On a node that is not
  # distributed the slot waits, silently, to be kicked (SnakeBridge.Pool.Waiting.kick/1)
  # once the node is.

  use GenServer
  require Logger

  alias SnakeBridge.Pool.{Boot, Waiting}

  @retry_ms 1_000

  def start_link({pool, slot, opts}),
    do: GenServer.start_link(__MODULE__, {pool, slot, opts}, name: name(pool, slot))

  def child_spec({pool, slot, opts}),
    do: %{id: {pool, slot}, start: {__MODULE__, :start_link, [{pool, slot, opts}]}}

  def name(pool, slot), do: :"#{__MODULE__}.#{pool}.#{slot}"

  # :ok once the slot's worker is up (at most `timeout` ms).
  def await(name, timeout) do
    GenServer.call(name, :await, timeout)
  catch
    :exit, _ -> {:error, :timeout}
  end

  @impl true
  def init({pool, slot, opts}) do
    Process.flag(:trap_exit, true)
    state = %{pool: pool, slot: slot, opts: opts, gen: 0, peer: nil, node: nil, waiters: []}

    if Node.alive?() do
      {:ok, state, {:continue, :boot}}
    else
      Waiting.defer(pool)
      {:ok, state}
    end
  end

  @impl true
  def handle_continue(:boot, state), do: {:noreply, boot(state)}

  @impl true
  # A worker whose connection is gone is down, although its :peer exit may not have
  # arrived yet: the waiter then gets its successor.
  def handle_call(:await, from, %{peer: peer, node: node} = state) do
    if peer != nil and node in :erlang.nodes(:connected),
      do: {:reply, :ok, state},
      else: {:noreply, %{state | waiters: [from | state.waiters]}}
  end

  @impl true
  def handle_info(:boot, %{peer: nil} = state), do: {:noreply, boot(state)}
  def handle_info(:boot, state), do: {:noreply, state}

  def handle_info({:EXIT, peer, reason}, %{peer: peer} = state) do
    # Calls routed to this slot wait for the successor from now on (or go elsewhere).
    SnakeBridge.Pool.set_node(state.pool, state.slot, nil)

    Logger.warning(
      "SnakeBridge pool #{inspect(state.pool)}: worker #{state.node} went down " <>
        "(#{inspect(reason)}); starting a new one"
    )

    {:noreply, boot(%{state | peer: nil, node: nil})}
  end

  def handle_info({:EXIT, _other, _reason}, state), do: {:noreply, state}
  def handle_info(_msg, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, %{peer: peer}) when is_pid(peer) do
    :peer.stop(peer)
  catch
    _, _ -> :ok
  end

  def terminate(_reason, _state), do: :ok

  defp boot(%{pool: pool, slot: slot} = state) do
    gen = state.gen + 1

    case start_peer(pool, slot, gen, state.opts) do
      {:ok, peer, node} ->
        SnakeBridge.Pool.set_node(pool, slot, node)
        Enum.each(state.waiters, &GenServer.reply(&1, :ok))
        %{state | gen: gen, peer: peer, node: node, waiters: []}

      {:error, :not_distributed} ->
        # (distribution stopped since: wait to be kicked again, without a retry loop)
        Waiting.defer(pool)
        %{state | gen: gen}

      {:error, reason} ->
        Logger.error(
          "SnakeBridge pool #{inspect(pool)}: cannot start worker #{slot}: #{inspect(reason)}"
        )

        Process.send_after(self(), :boot, @retry_ms)
        %{state | gen: gen}
    end
  end

  defp start_peer(pool, slot, gen, opts) do
    if Node.alive?() do
      options = Boot.peer_options(pool, slot, gen, opts.start_timeout)

      with {:ok, peer, node} <- :peer.start_link(options),
           :ok <- setup(peer, node, opts) do
        {:ok, peer, node}
      else
        {:error, _} = error -> error
        other -> {:error, other}
      end
    else
      {:error, :not_distributed}
    end
  catch
    kind, reason -> {:error, {kind, reason}}
  end

  defp setup(peer, node, opts) do
    case Boot.setup(node, Boot.env(opts), max(opts.start_timeout, 1)) do
      :ok ->
        :ok

      {:error, reason} ->
        :peer.stop(peer)
        {:error, reason}
    end
  catch
    kind, reason ->
      :peer.stop(peer)
      {:error, {kind, reason}}
  end
end
