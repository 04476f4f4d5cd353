defmodule SnakeBridge.Pool do
  @moduledoc """
  Worker pools: Python on other BEAM nodes, over Erlang distribution.

  A worker is a BEAM node that runs `:snakebridge` with its own embedded Python. A pool
  is named in the config:

      config :snakebridge,
        pools: [
          # two worker nodes on this machine, started with OTP's :peer
          isolated: [peers: 2],
          # nodes that already run :snakebridge (another machine)
          gpu: [nodes: [:"py@gpu-host"]]
        ]

  and chosen per call with `__runtime__: [pool_name: :isolated]`. A call without
  `pool_name` runs on this node's interpreter, as always; a `pool_name` that names no
  configured pool is only a label carried by the refs (as before pools existed).

  `peers: n` workers are started when the application starts (eagerly; this node must be
  alive, `Node.start/2` or `--sname`, before `:snakebridge` starts, or the pool keeps
  retrying every second and its calls return `{:error, {:worker_down, _}}`). They run
  with this node's code paths and `:snakebridge` application environment; each is
  supervised: when one dies, in-flight calls on it return
  `{:error, {:worker_down, reason}}` and a new worker replaces it (under a new node name,
  so refs of the dead one keep answering `{:error, {:worker_down, _}}`). `ready/2` waits
  for a pool's workers. `config :snakebridge, peer_args: ["+sbwt", "none"]` adds
  arguments to the `erl` command of every peer. `nodes:` workers are used as they are: not started, not
  restarted.

  Routing: a call with a `session_id` (other than the default session) goes to the
  worker `:erlang.phash2(session_id, n)` (the same one every time); a call without one
  that is given a ref of the pool goes to that ref's worker; any other call to the
  worker with the fewest calls in flight from this node. A ref or stream made on a
  worker lives there (its `resource` is a reference of that node: `node(ref.resource)`,
  also `node_of/1`), and every operation on it (methods, attributes, `Enum`,
  `stream_next`, passing it as an argument) runs there, from any process on any
  connected node. Passing it to a call that runs elsewhere returns
  `{:error, {:ref_on_other_node, ref_node, target_node}}`.

  A node that only routes sets `config :snakebridge, embedded: false`: it starts no
  Python, and a call without a pool returns `{:error, :not_embedded}`.

  Lifetimes: an object returned to another node stays alive on its worker until the
  BEAM collects the last copy of its refs on that node (they carry a `handle`, a
  resource of that node whose collection tells the worker), or its session is released,
  or that node disconnects. A session started with `SnakeBridge.Session.start(pool_name:
  pool)` lives on the session's worker too: `SnakeBridge.Session.release/1` and its
  owner's exit release its refs there.

  Output and callbacks: what Python prints goes to the caller's group leader; an
  Elixir function given to Python runs in a process of the caller's, on its own node. A pid
  given to Python on a worker can only be sent to when it is local to that worker.
  """

  alias SnakeBridge.{Context, Ref, Request, StreamRef}

  @busy SnakeBridge.Pool.Busy

  @doc "The worker nodes of `pool` now (`[]` for a pool that is not configured)."
  @spec nodes(atom()) :: [node()]
  def nodes(pool) do
    case :persistent_term.get({__MODULE__, pool}, nil) do
      nil -> []
      nodes -> nodes |> Tuple.to_list() |> Enum.reject(&is_nil/1)
    end
  end

  @doc "The names of the configured pools."
  @spec pools() :: [atom()]
  def pools, do: :persistent_term.get({__MODULE__, :pools}, [])

  @doc """
  Waits until every `peers:` worker of `pool` is up: `:ok`, or `{:error, :timeout}`.
  """
  @spec ready(atom(), timeout()) :: :ok | {:error, :timeout}
  def ready(pool, timeout \\ 30_000) do
    slots = :persistent_term.get({__MODULE__, pool, :slots}, [])

    results =
      slots
      |> Enum.map(fn name -> Task.async(fn -> SnakeBridge.Pool.Peer.await(name, timeout) end) end)
      |> Enum.map(&Task.await(&1, :infinity))

    if Enum.all?(results, &(&1 == :ok)), do: :ok, else: {:error, :timeout}
  end

  @doc """
  Starts a pool at run time (as if it were in `config :snakebridge, pools:`):
  `spec` is `[peers: n]` or `[nodes: [node, ...]]`. Returns `:ok` at once; `ready/2`
  waits for `peers:` workers.
  """
  @spec start(atom(), keyword()) :: :ok
  def start(name, spec) when is_atom(name) and is_list(spec) do
    [{^name, parsed}] = with_env([{name, spec}], fn -> config!() end)

    SnakeBridge.Pool.Supervisor.add(name, parsed)
  end

  @doc "Stops a pool started by `start/2` or the config (its peer workers stop)."
  @spec stop(atom()) :: :ok
  def stop(name) when is_atom(name), do: SnakeBridge.Pool.Supervisor.remove(name)

  defp with_env(pools, fun) do
    previous = Application.fetch_env(:snakebridge, :pools)
    Application.put_env(:snakebridge, :pools, pools)

    try do
      fun.()
    after
      case previous do
        {:ok, value} -> Application.put_env(:snakebridge, :pools, value)
        :error -> Application.delete_env(:snakebridge, :pools)
      end
    end
  end

  @doc "The node a ref or stream lives on."
  @spec node_of(Ref.t() | StreamRef.t()) :: node()
  def node_of(%Ref{resource: r}), do: node(r)
  def node_of(%StreamRef{resource: r}), do: node(r)

  @doc false
  # Parses `config :snakebridge, pools: [...]`.
  def config! do
    pools = Application.get_env(:snakebridge, :pools, [])

    unless Keyword.keyword?(pools),
      do: raise(ArgumentError, "config :snakebridge, pools: must be a keyword list")

    Enum.map(pools, fn
      {name, [peers: n]} when is_integer(n) and n > 0 ->
        {name, {:peers, n}}

      {name, [nodes: nodes]} when is_list(nodes) and nodes != [] ->
        if Enum.all?(nodes, &is_atom/1),
          do: {name, {:nodes, nodes}},
          else: bad_pool!(name, nodes)

      {name, other} ->
        bad_pool!(name, other)
    end)
  end

  defp bad_pool!(name, other) do
    raise ArgumentError,
          "config :snakebridge, pools: #{inspect(name)} must be [peers: n] (n > 0) or " <>
            "[nodes: [node, ...]], got: #{inspect(other)}"
  end

  @doc false
  def embedded?, do: :persistent_term.get({__MODULE__, :embedded}, true)

  @doc false
  # The slots' workers boot concurrently: the read-modify-write of the pool's tuple is
  # done under a lock of this node, or one slot's update could undo the other's (seen
  # under load: `ready/2` said both were up, `nodes/1` listed one).
  def set_node(pool, slot, node) do
    :global.trans(
      {{__MODULE__, pool}, self()},
      fn ->
        nodes = :persistent_term.get({__MODULE__, pool})
        :persistent_term.put({__MODULE__, pool}, put_elem(nodes, slot, node))
      end,
      [node()]
    )
  end

  # ---------------------------------------------------------------- routing

  @doc false
  # Where an operation runs: `:local`, `{:remote, node}` or `{:error, reason}`.
  def route(request) do
    case Request.object(request) do
      r when is_reference(r) and node(r) != node() ->
        {:remote, node(r)}

      _ ->
        case Request.context(request) do
          %Context{session_id: session, pool: pool} when pool != nil ->
            pick(pool, session, refs_in(request))

          _ ->
            local()
        end
    end
  end

  defp local, do: if(embedded?(), do: :local, else: {:error, :not_embedded})

  @doc false
  # The worker of `pool` for a call of `session` whose request carries refs of
  # `ref_nodes` (see ref_nodes/1).
  def pick(pool, session, ref_nodes) do
    case :persistent_term.get({__MODULE__, pool}, nil) do
      nil ->
        local()

      nodes ->
        # A session's worker first (its refs live there), then the refs' worker.
        target =
          cond do
            session != Context.default_session() ->
              elem(nodes, :erlang.phash2(session, tuple_size(nodes)))

            ref_nodes != [] ->
              hd(ref_nodes)

            true ->
              least_busy(nodes)
          end

        case Enum.find(ref_nodes, &(&1 != target)) do
          _ when target == nil -> {:error, {:worker_down, :starting}}
          nil when target == node() -> local()
          nil -> {:remote, target}
          other -> {:error, {:ref_on_other_node, other, target}}
        end
    end
  end

  # The object a request works on (a resource first), then refs among its arguments.
  defp refs_in(request) do
    first = Request.object(request)
    acc = request |> Request.arguments() |> resources([])
    acc = if is_reference(first), do: [first | acc], else: resources(first, acc)
    nodes = Enum.map(acc, &node/1)
    Enum.uniq(nodes)
  end

  @doc false
  # The nodes of the refs and streams in a term.
  def ref_nodes(term), do: term |> resources() |> Enum.map(&node/1) |> Enum.uniq()

  @doc false
  # The resources of the refs and streams in a term (SnakeBridge.Pool.Keeper keeps them).
  def resources(term), do: resources(term, [])

  defp resources(%Ref{resource: r}, acc) when is_reference(r), do: [r | acc]
  defp resources(%StreamRef{resource: r}, acc) when is_reference(r), do: [r | acc]
  defp resources([h | t], acc), do: resources(t, resources(h, acc))

  defp resources(t, acc) when is_tuple(t) and tuple_size(t) > 0,
    do: resources(Tuple.to_list(t), acc)

  defp resources(%_{}, acc), do: acc
  defp resources(m, acc) when is_map(m) and map_size(m) > 0, do: resources(Map.to_list(m), acc)
  defp resources(_, acc), do: acc

  # (A slot still starting is nil: chosen only when no worker is up.)
  defp least_busy(nodes) do
    nodes
    |> Tuple.to_list()
    |> Enum.min_by(fn
      nil ->
        :infinity

      n ->
        case :ets.lookup(@busy, n) do
          [{_, busy}] -> busy
          [] -> 0
        end
    end)
  end

  @doc false
  def busy(node, delta) do
    :ets.update_counter(@busy, node, delta, {node, 0})
  rescue
    ArgumentError -> 0
  end

  @doc false
  # A local call that failed on an argument may have been given a ref of another node.
  def explain(error, request) do
    case Enum.find(ref_nodes(Tuple.to_list(request)), &(&1 != node())) do
      nil -> error
      other -> {:error, {:ref_on_other_node, other, node()}}
    end
  end
end
