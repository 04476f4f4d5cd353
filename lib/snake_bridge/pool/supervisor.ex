defmodule SnakeBridge.Pool.Supervisor do
  @moduledoc false
  # Reads `config :snakebridge, pools: [...]`, publishes each pool's nodes (where calls
  # read them without copying) and supervises the worker slots of `peers:` pools.

  use Supervisor

  def start_link(pools), do: Supervisor.start_link(__MODULE__, pools, name: __MODULE__)

  @impl true
  def init(pools) do
    :ets.new(SnakeBridge.Pool.Busy, [:named_table, :public, write_concurrency: true])
    SnakeBridge.Pool.Waiting.new()
    :persistent_term.put({SnakeBridge.Pool, :pools}, Keyword.keys(pools))

    children = Enum.flat_map(pools, fn {name, spec} -> publish(name, spec) end)

    Supervisor.init([SnakeBridge.Pool.Sessions | children],
      strategy: :one_for_one,
      max_restarts: 100,
      max_seconds: 10
    )
  end

  # Publishes a pool's nodes and returns the child specs of its worker slots.
  defp publish(name, {:nodes, nodes}) do
    :persistent_term.put({SnakeBridge.Pool, name}, List.to_tuple(nodes))
    :persistent_term.put({SnakeBridge.Pool, name, :slots}, [])
    :persistent_term.put({SnakeBridge.Pool, name, :wait}, 0)
    []
  end

  defp publish(name, {:peers, n, opts}) do
    # Until a worker is up its slot is nil (calls routed to it wait, see Pool.Waiting).
    :persistent_term.put({SnakeBridge.Pool, name}, List.to_tuple(List.duplicate(nil, n)))
    slots = for slot <- 0..(n - 1), do: SnakeBridge.Pool.Peer.name(name, slot)
    :persistent_term.put({SnakeBridge.Pool, name, :slots}, slots)
    :persistent_term.put({SnakeBridge.Pool, name, :wait}, opts.wait)
    for slot <- 0..(n - 1), do: {SnakeBridge.Pool.Peer, {name, slot, opts}}
  end

  @doc false
  def add(name, spec) do
    if name in SnakeBridge.Pool.pools(), do: raise(ArgumentError, "pool #{inspect(name)} exists")
    children = publish(name, spec)
    :persistent_term.put({SnakeBridge.Pool, :pools}, [name | SnakeBridge.Pool.pools()])
    Enum.each(children, &({:ok, _} = Supervisor.start_child(__MODULE__, &1)))
    :ok
  end

  @doc false
  def remove(name) do
    slots = :persistent_term.get({SnakeBridge.Pool, name, :slots}, [])

    for slot <- 0..(length(slots) - 1)//1 do
      :ok = Supervisor.terminate_child(__MODULE__, {name, slot})
      :ok = Supervisor.delete_child(__MODULE__, {name, slot})
    end

    :persistent_term.put({SnakeBridge.Pool, :pools}, List.delete(SnakeBridge.Pool.pools(), name))
    :persistent_term.erase({SnakeBridge.Pool, name})
    :persistent_term.erase({SnakeBridge.Pool, name, :slots})
    :persistent_term.erase({SnakeBridge.Pool, name, :wait})
    SnakeBridge.Pool.Waiting.forget(name)
  end
end
