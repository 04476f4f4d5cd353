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
  pool raises `ArgumentError` (naming the pools there are). A call with the `session_id`
  of a session started with `SnakeBridge.Session.start(pool_name: pool)` goes to that
  pool without naming it.

  `peers: n` workers need this node to be distributed (`--sname`/`--name`,
  `RELEASE_DISTRIBUTION=sname|name` in a release, or `Node.start/2`). On a distributed
  node they start when the application starts; on one that is not, nothing starts and
  nothing is logged until the pool is used: then one warning says what to do, and calls
  return `{:error, :not_distributed}` at once (so `mix compile` and `mix release`, which
  run without distribution, start no worker). Once the node is distributed, the next
  call or `ready/2` starts them.

  A worker is started with OTP's `:peer` from the `erl` of this node's own installation
  (a release's ERTS), with its boot variables and `start_clean` boot, this node's cookie
  (`-setcookie`, on its command line, as a release passes its own), name type and host
  (`app_<pool>_<slot>_<n>@<the host part of this node's name>`), code paths and
  `:snakebridge` environment, and the Python paths of this node (the `priv/python` of
  every loaded application, `python_path:`, the venv). It is hidden (it does not join the
  cluster's mesh). `config :snakebridge, peer_args: ["+sbwt", "none"]` adds arguments to
  its command line.

  Options of a `peers:` pool, beside `peers: n`:

    * `start_timeout:` - ms a worker may take to start (60 000), and how long a call to a
      pool with no worker up waits for one (see `wait:`);
    * `wait:` - ms a call waits for a worker while the pool's workers start or restart
      (default `start_timeout`), within the call's own `timeout`: after it the call
      returns `{:error, {:worker_down, :starting}}`;
    * `spin_us:` - the workers' `spin_us` (300): a worker's thread stays awake that long
      after a call, longer than a round trip over the network, so the next remote call
      does not pay a thread wake-up.

  Each worker is supervised: when one dies, in-flight calls on it return
  `{:error, {:worker_down, reason}}` and a new worker replaces it (under a new node name,
  so refs of the dead one keep answering `{:error, {:worker_down, _}}`); calls routed to
  it meanwhile wait for its successor (or go to another worker). `ready/2` waits for a
  pool's workers. `nodes:` workers are used as they are: not started, not restarted.

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
  alias SnakeBridge.Pool.Waiting

  require Logger

  @busy SnakeBridge.Pool.Busy

  @start_timeout 60_000
  @spin_us 300

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
  Waits until every `peers:` worker of `pool` is up: `:ok`, `{:error, :timeout}`, or
  `{:error, :not_distributed}` at once on a node that is not distributed.
  """
  @spec ready(atom(), timeout()) :: :ok | {:error, :timeout | :not_distributed}
  def ready(pool, timeout \\ 30_000) do
    slots = :persistent_term.get({__MODULE__, pool, :slots}, [])

    if slots != [] and not Node.alive?() do
      not_distributed(pool)
    else
      Waiting.kick(pool)

      results =
        slots
        |> Enum.map(fn name ->
          Task.async(fn -> SnakeBridge.Pool.Peer.await(name, timeout) end)
        end)
        |> Enum.map(&Task.await(&1, :infinity))

      if Enum.all?(results, &(&1 == :ok)), do: :ok, else: {:error, :timeout}
    end
  end

  @doc """
  Starts a pool at run time (as if it were in `config :snakebridge, pools:`):
  `spec` is `[peers: n]` (with the options above) or `[nodes: [node, ...]]`. Returns
  `:ok` at once (`ready/2` waits for `peers:` workers), or `{:error, :not_distributed}`
  for `peers:` on a node that is not distributed.
  """
  @spec start(atom(), keyword()) :: :ok | {:error, :not_distributed}
  def start(name, spec) when is_atom(name) and is_list(spec) do
    [{^name, parsed}] = with_env([{name, spec}], fn -> config!() end)

    if match?({:peers, _, _}, parsed) and not Node.alive?(),
      do: {:error, :not_distributed},
      else: SnakeBridge.Pool.Supervisor.add(name, parsed)
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
  # Parses `config :snakebridge, pools: [...]`: `{name, {:peers, n, options}}` or
  # `{name, {:nodes, nodes}}`.
  def config! do
    pools = Application.get_env(:snakebridge, :pools, [])

    unless Keyword.keyword?(pools),
      do: raise(ArgumentError, "config :snakebridge, pools: must be a keyword list")

    Enum.map(pools, fn
      {name, [nodes: nodes]} when is_list(nodes) and nodes != [] ->
        if Enum.all?(nodes, &is_atom/1),
          do: {name, {:nodes, nodes}},
          else: bad_pool!(name, nodes)

      {name, spec} when is_list(spec) ->
        case Keyword.pop(spec, :peers) do
          {n, opts} when is_integer(n) and n > 0 -> {name, {:peers, n, peer_options!(name, opts)}}
          _ -> bad_pool!(name, spec)
        end

      {name, other} ->
        bad_pool!(name, other)
    end)
  end

  defp peer_options!(name, opts) do
    unless Keyword.keyword?(opts), do: bad_pool!(name, opts)
    start = Keyword.get(opts, :start_timeout, @start_timeout)

    parsed = %{
      start_timeout: start,
      wait: Keyword.get(opts, :wait, start),
      spin_us: Keyword.get(opts, :spin_us, @spin_us)
    }

    for {key, value} <- opts do
      ok =
        case key do
          k when k in [:start_timeout, :wait] -> is_integer(value) and value >= 0
          :spin_us -> is_integer(value) and value >= 0
          _ -> false
        end

      unless ok do
        raise ArgumentError,
              "config :snakebridge, pools: #{inspect(name)}: #{inspect(key)} must be " <>
                if(key in [:start_timeout, :wait, :spin_us],
                  do: "a non-negative integer, got: #{inspect(value)}",
                  else: "one of :start_timeout, :wait, :spin_us (unknown option)"
                )
      end
    end

    parsed
  end

  defp bad_pool!(name, other) do
    raise ArgumentError,
          "config :snakebridge, pools: #{inspect(name)} must be [peers: n] (n > 0, options " <>
            ":start_timeout, :wait, :spin_us) or [nodes: [node, ...]], got: #{inspect(other)}"
  end

  @doc false
  def embedded?, do: :persistent_term.get({__MODULE__, :embedded}, true)

  @doc false
  # The slots' workers boot concurrently: the read-modify-write of the pool's tuple is
  # done under a lock of this node, or one slot's update could undo the other's (seen
  # under load: `ready/2` said both were up, `nodes/1` listed one). Callers waiting for
  # a worker are told once it is published.
  def set_node(pool, slot, node) do
    :global.trans(
      {{__MODULE__, pool}, self()},
      fn ->
        nodes = :persistent_term.get({__MODULE__, pool})
        :persistent_term.put({__MODULE__, pool}, put_elem(nodes, slot, node))
      end,
      [node()]
    )

    if node, do: Waiting.up(pool, slot)
    :ok
  end

  # ---------------------------------------------------------------- routing

  @doc false
  # Where an operation runs: `:local`, `{:remote, node, timeout}` (the time left of
  # `timeout` after waiting for a worker) or `{:error, reason}`.
  def route(request, timeout \\ nil) do
    case Request.object(request) do
      r when is_reference(r) and node(r) != node() ->
        {:remote, node(r), timeout}

      object ->
        case Request.context(request) do
          %Context{session_id: session, pool: pool} when pool != nil ->
            # An object of this node labelled with a pool this node does not have (on a
            # worker, its objects carry their caller's pool) runs here.
            if is_reference(object) and configured(pool) == nil,
              do: local(),
              else: pick(pool, session, refs_in(request), timeout)

          _ ->
            local()
        end
    end
  end

  defp local, do: if(embedded?(), do: :local, else: {:error, :not_embedded})

  @doc false
  # The worker of `pool` for a call of `session` whose request carries refs of
  # `ref_nodes` (see ref_nodes/1), within `timeout` (ms, or nil/:infinity for the
  # pool's `wait:`): `:local`, `{:remote, node, time_left}` or `{:error, reason}`.
  # Raises ArgumentError for a pool that does not exist.
  def pick(pool, session, ref_nodes, timeout \\ nil) do
    case configured(pool) do
      nil -> unknown(pool)
      name -> choose(name, session, ref_nodes, timeout)
    end
  end

  # The configured pool a pool_name names (an atom, or its string).
  defp configured(pool) when is_atom(pool) do
    if :persistent_term.get({__MODULE__, pool}, nil), do: pool
  end

  defp configured(pool) when is_binary(pool),
    do: Enum.find(pools(), &(Atom.to_string(&1) == pool))

  defp configured(_), do: nil

  # Before the application has published its pools (it is not started, or starting), no
  # name can be checked: the call fails as one to a Python not started.
  defp unknown(pool) do
    if :persistent_term.get({__MODULE__, :pools}, nil) == nil,
      do: {:error, :python_not_started},
      else: unknown!(pool)
  end

  defp unknown!(pool) do
    raise ArgumentError,
          "no pool named #{inspect(pool)}: the pools are #{inspect(Enum.sort(pools()))} " <>
            "(config :snakebridge, pools: [...] or SnakeBridge.Pool.start/2)"
  end

  defp choose(pool, session, ref_nodes, timeout) do
    nodes = :persistent_term.get({__MODULE__, pool})
    # A `peers:` worker is up while it is connected (its node can be gone a moment
    # before its slot says so); a `nodes:` worker is connected by the call itself.
    up = if peers?(pool), do: :erlang.nodes(:connected), else: :any

    # A session's worker first (its refs live there), then the refs' worker.
    {slot, target} =
      cond do
        session != Context.default_session() ->
          slot = :erlang.phash2(session, tuple_size(nodes))
          {slot, up(elem(nodes, slot), up)}

        ref_nodes != [] ->
          {nil, hd(ref_nodes)}

        true ->
          {:any, least_busy(nodes, up)}
      end

    case Enum.find(ref_nodes, &(&1 != target)) do
      _ when target == nil -> starting(pool, slot, session, ref_nodes, timeout)
      nil when target == node() -> local()
      nil -> {:remote, target, timeout}
      other -> {:error, {:ref_on_other_node, other, target}}
    end
  end

  defp peers?(pool), do: :persistent_term.get({__MODULE__, pool, :slots}, []) != []

  defp up(node, :any), do: node
  defp up(nil, _connected), do: nil
  defp up(node, connected), do: if(:lists.member(node, connected), do: node)

  # No worker up for this call: the pool's workers start or restart. The call waits for
  # one (at most the pool's `wait:` and its own timeout), then is routed again.
  defp starting(pool, slot, session, ref_nodes, timeout) do
    if Node.alive?() do
      Waiting.kick(pool)
      wait = Waiting.limit(pool, timeout)
      t0 = System.monotonic_time(:millisecond)

      case Waiting.await(pool, slot, wait) do
        :up ->
          left = Waiting.left(timeout, System.monotonic_time(:millisecond) - t0)
          choose(pool, session, ref_nodes, left)

        :timeout ->
          {:error, {:worker_down, :starting}}
      end
    else
      not_distributed(pool)
    end
  end

  # Once per pool, a warning that says what to do.
  defp not_distributed(pool) do
    if Waiting.first_warning?(pool) do
      Logger.warning(
        "SnakeBridge pool #{inspect(pool)} cannot start its workers: this node is not " <>
          "distributed. Start it with a name (elixir/iex --sname NAME or --name NAME@HOST; " <>
          "a release: RELEASE_DISTRIBUTION=sname or name, with epmd running) or call " <>
          "Node.start/2; the workers start at the pool's next call or " <>
          "SnakeBridge.Pool.ready/2 after that. Until then its calls return " <>
          "{:error, :not_distributed}."
      )
    end

    {:error, :not_distributed}
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

  # (Scalars first: every answer from a worker is walked, and most of what it holds is
  # numbers and strings, such as a batch of 1000 ints.)
  defp resources(x, acc) when is_number(x) or is_binary(x) or is_atom(x), do: acc
  defp resources(%Ref{resource: r}, acc) when is_reference(r), do: [r | acc]
  defp resources(%StreamRef{resource: r}, acc) when is_reference(r), do: [r | acc]
  defp resources([h | t], acc), do: resources(t, resources(h, acc))

  defp resources(t, acc) when is_tuple(t) and tuple_size(t) > 0,
    do: resources(Tuple.to_list(t), acc)

  defp resources(%_{}, acc), do: acc
  defp resources(m, acc) when is_map(m) and map_size(m) > 0, do: resources(Map.to_list(m), acc)
  defp resources(_, acc), do: acc

  # (A slot starting, or whose worker is gone, is chosen only when no worker is up: then
  # the call waits.)
  defp least_busy(nodes, up) do
    nodes
    |> Tuple.to_list()
    |> Enum.min_by(fn n ->
      case up(n, up) do
        nil ->
          :infinity

        n ->
          case :ets.lookup(@busy, n) do
            [{_, busy}] -> busy
            [] -> 0
          end
      end
    end)
    |> up(up)
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
