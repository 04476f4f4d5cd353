defmodule SnakeBridge.Pool.Peer do
  @moduledoc false
  # One worker slot of a `peers: n` pool: starts a BEAM node with OTP's :peer (this
  # node's code paths and :snakebridge environment), starts :snakebridge there, and
  # starts a new one when it dies. Each start gets a new node name (`..._<slot>_<gen>`),
  # so a ref of a dead worker can never reach its successor.

  use GenServer
  require Logger

  @retry_ms 1_000

  def start_link({pool, slot}),
    do: GenServer.start_link(__MODULE__, {pool, slot}, name: name(pool, slot))

  def child_spec({pool, slot}),
    do: %{id: {pool, slot}, start: {__MODULE__, :start_link, [{pool, slot}]}}

  def name(pool, slot), do: :"#{__MODULE__}.#{pool}.#{slot}"

  # :ok once the slot's worker is up (at most `timeout` ms).
  def await(name, timeout) do
    GenServer.call(name, :await, timeout)
  catch
    :exit, _ -> {:error, :timeout}
  end

  @impl true
  def init({pool, slot}) do
    Process.flag(:trap_exit, true)

    {:ok, %{pool: pool, slot: slot, gen: 0, peer: nil, node: nil, waiters: []},
     {:continue, :boot}}
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
    Logger.warning(
      "SnakeBridge pool #{inspect(state.pool)}: worker #{state.node} went down " <>
        "(#{inspect(reason)}); starting a new one"
    )

    {:noreply, boot(%{state | peer: nil})}
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

  defp boot(state) do
    gen = state.gen + 1

    case start_peer(state.pool, state.slot, gen) do
      {:ok, peer, node} ->
        SnakeBridge.Pool.set_node(state.pool, state.slot, node)
        Enum.each(state.waiters, &GenServer.reply(&1, :ok))
        %{state | gen: gen, peer: peer, node: node, waiters: []}

      {:error, reason} ->
        Logger.error(
          "SnakeBridge pool #{inspect(state.pool)}: cannot start worker #{state.slot}: " <>
            inspect(reason)
        )

        Process.send_after(self(), :boot, @retry_ms)
        %{state | gen: gen}
    end
  end

  defp start_peer(pool, slot, gen) do
    if Node.alive?() do
      [base, _host] = node() |> Atom.to_string() |> String.split("@", parts: 2)
      name = String.to_atom("#{base}_#{pool}_#{slot}_#{gen}")
      # Hidden: workers do not join the cluster's full mesh (nor `global`'s partitions).
      paths = [~c"-hidden" | Enum.flat_map(:code.get_path(), &[~c"-pa", &1])]
      extra = Enum.map(Application.get_env(:snakebridge, :peer_args, []), &to_charlist/1)

      with {:ok, peer, node} <-
             :peer.start_link(%{name: name, args: paths ++ extra, wait_boot: 60_000}),
           :ok <- setup(peer, node) do
        {:ok, peer, node}
      else
        {:error, _} = error ->
          error

        other ->
          {:error, other}
      end
    else
      {:error, :not_distributed}
    end
  catch
    kind, reason -> {:error, {kind, reason}}
  end

  defp setup(peer, node) do
    :ok = :erpc.call(node, :application, :load, [:snakebridge])

    for {key, value} <- Application.get_all_env(:snakebridge), key not in [:pools, :embedded] do
      :ok = :erpc.call(node, :application, :set_env, [:snakebridge, key, value])
    end

    case :erpc.call(node, :application, :ensure_all_started, [:snakebridge], 120_000) do
      {:ok, _} ->
        :ok

      {:error, reason} ->
        :peer.stop(peer)
        {:error, reason}
    end
  end
end
