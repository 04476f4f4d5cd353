defmodule SnakeBridge.Pool.Waiting do
  @moduledoc false
  # Calls that find no worker of their pool up wait here for one (see SnakeBridge.Pool's
  # routing), and pools on a node that was not distributed when they were configured
  # start their workers at first use.
  #
  # One public ETS bag (made by SnakeBridge.Pool.Supervisor) holds:
  #   {{pool, slot | :any}, alias} - a caller waiting for a slot, or for any worker;
  #   {{pool, :deferred}}          - the pool's workers wait for distribution to start;
  #   {{pool, :warned}}            - the not-distributed warning was logged.
  # A waiter is told by a message to an alias of its own: once it stops waiting it
  # removes the alias, so a late "up" is dropped instead of staying in its mailbox.

  @table __MODULE__

  def new, do: :ets.new(@table, [:named_table, :public, :bag, write_concurrency: true])

  @doc false
  # How long a call with `timeout` (ms, nil or :infinity) waits for a worker of `pool`.
  def limit(pool, timeout) do
    wait = :persistent_term.get({SnakeBridge.Pool, pool, :wait}, 0)
    if is_integer(timeout), do: min(timeout, wait), else: wait
  end

  @doc false
  # What is left of `timeout` after `elapsed` ms.
  def left(timeout, elapsed) when is_integer(timeout), do: max(timeout - elapsed, 0)
  def left(timeout, _elapsed), do: timeout

  @doc false
  # `:up` once the slot (or, for `:any`, some worker) of `pool` is up, else `:timeout`
  # after `wait` ms.
  def await(pool, slot, wait) do
    alias = :erlang.alias()
    key = {pool, slot}
    true = :ets.insert(@table, {key, alias})

    # Published before we registered: SnakeBridge.Pool.set_node publishes, then tells.
    if up?(pool, slot) do
      done(key, alias)
      :up
    else
      receive do
        {^alias, :up} -> done(key, alias) && :up
      after
        wait -> done(key, alias) && :timeout
      end
    end
  end

  # (connected: a slot can still name a worker that is gone)
  defp up?(pool, slot) do
    connected = :erlang.nodes(:connected)

    case :persistent_term.get({SnakeBridge.Pool, pool}, nil) do
      nil -> false
      nodes when slot == :any -> Enum.any?(Tuple.to_list(nodes), &(&1 in connected))
      nodes -> elem(nodes, slot) in connected
    end
  end

  defp done(key, alias) do
    :erlang.unalias(alias)
    :ets.delete_object(@table, {key, alias})

    receive do
      {^alias, :up} -> true
    after
      0 -> true
    end
  end

  @doc false
  # The worker of `slot` is published: its waiters and those of any worker are told.
  def up(pool, slot) do
    for key <- [{pool, slot}, {pool, :any}],
        {_, alias} <- :ets.take(@table, key),
        do: send(alias, {alias, :up})

    :ok
  rescue
    ArgumentError -> :ok
  end

  @doc false
  # The workers of `pool` wait to be kicked (this node was not distributed).
  def defer(pool), do: :ets.insert(@table, {{pool, :deferred}})

  @doc false
  # Starts the deferred workers of `pool` (once: the first caller takes the mark).
  def kick(pool) do
    case :ets.take(@table, {pool, :deferred}) do
      [] ->
        :ok

      _ ->
        for name <- :persistent_term.get({SnakeBridge.Pool, pool, :slots}, []),
            pid = Process.whereis(name),
            do: send(pid, :boot)

        :ok
    end
  end

  @doc false
  # True the first time only (per pool).
  def first_warning?(pool), do: :ets.insert_new(@table, {{pool, :warned}})

  @doc false
  # A stopped pool's entries.
  def forget(pool) do
    :ets.match_delete(@table, {{pool, :_}})
    :ets.match_delete(@table, {{pool, :_}, :_})
    :ok
  end
end
