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
