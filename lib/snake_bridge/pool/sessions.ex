defmodule SnakeBridge.Pool.Sessions do
  @moduledoc false
  # The pool of each session started with `SnakeBridge.Session.start(pool_name: pool)`,
  # so that a call that gives only the session's id goes to that pool. Entries go when
  # the session is released or its owner exits.

  use GenServer

  @table __MODULE__

  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @doc false
  # The pool of session `id` (nil for a session that names none, and for the default).
  def pool_of(id) do
    case :ets.lookup(@table, id) do
      [{_, pool, _owner}] -> pool
      [] -> nil
    end
  rescue
    # (the application is not running)
    ArgumentError -> nil
  end

  @doc false
  def register(id, pool, owner), do: GenServer.call(__MODULE__, {:register, id, pool, owner})

  @doc false
  def unregister(id) do
    case :ets.take(@table, id) do
      [{_, _, owner}] -> GenServer.cast(__MODULE__, {:unregister, id, owner})
      [] -> :ok
    end
  rescue
    ArgumentError -> :ok
  end

  @impl true
  def init(nil) do
    :ets.new(@table, [:named_table, :public, :set, read_concurrency: true])
    {:ok, %{}}
  end

  @impl true
  def handle_call({:register, id, pool, owner}, _from, owners) do
    :ets.insert(@table, {id, pool, owner})

    owners =
      Map.update(owners, owner, {Process.monitor(owner), [id]}, fn {ref, ids} ->
        {ref, [id | ids]}
      end)

    {:reply, :ok, owners}
  end

  @impl true
  def handle_cast({:unregister, id, owner}, owners) do
    owners =
      case Map.get(owners, owner) do
        {ref, [^id]} ->
          Process.demonitor(ref, [:flush])
          Map.delete(owners, owner)

        {ref, ids} ->
          Map.put(owners, owner, {ref, List.delete(ids, id)})

        nil ->
          owners
      end

    {:noreply, owners}
  end

  @impl true
  def handle_info({:DOWN, _, :process, owner, _}, owners) do
    {{_, ids}, owners} = Map.pop(owners, owner, {nil, []})
    Enum.each(ids, &:ets.delete(@table, &1))
    {:noreply, owners}
  end

  def handle_info(_msg, owners), do: {:noreply, owners}
end
