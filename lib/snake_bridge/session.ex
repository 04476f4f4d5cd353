defmodule SnakeBridge.Session do
  @moduledoc """
  A group of refs and streams that live and die together, optionally pinned to one OS
  thread.

  Many Python libraries bind state to the thread that created it: a `sqlite3`
  connection, GUI and GPU contexts, `threading.local`. Calls made outside a session may
  run on any of the library's threads; a session started with `affinity: :thread` runs
  every call, `SnakeBridge.Ref` method or attribute, `stream_next` and
  `SnakeBridge.stream/5` made under it on one OS thread:

      iex> {:ok, session} = SnakeBridge.Session.start(affinity: :thread)
      iex> {:ok, conn} = SnakeBridge.call("sqlite3", "connect", [":memory:"], __runtime__: [session_id: session])
      iex> {:ok, cursor} = SnakeBridge.Ref.method(conn, "execute", ["select 1 + 1"])
      iex> Enum.to_list(cursor)
      [{2}]
      iex> SnakeBridge.Session.release(session)
      :ok
      iex> SnakeBridge.Ref.method(conn, "execute", ["select 1"])
      {:error, :released}

  Work is made under a session by `__runtime__: [session_id: id]`, inside
  `with_session/2`, or on a ref made in the session (a ref remembers its session).

  `release/1` releases every ref and stream of the session at once (generators are
  closed, so their `finally` runs); using one afterwards gives `{:error, :released}`
  (enumerating one raises). A session is released when its owner process exits (the
  process that started it, or `owner:`). Refs made outside any session are released when
  the BEAM collects their last copy.

  Thread-affine sessions share a small, fixed set of threads (four): a long call in one
  session delays the others on its thread. A session id that `start/1` did not make (any
  string given as `session_id`) only labels the refs made with it.
  """

  @typedoc "A session id, as returned by `start/1`."
  @type id :: String.t()

  require SnakeBridge.Messages, as: Messages

  @key {__MODULE__, :current}

  # How long release/1 waits for the session's thread to release its objects.
  @release_wait 1_000

  @doc """
  Starts a session.

  Options: `affinity:` `:thread` (one OS thread for all its work) or `:any` (the
  default); `owner:` the process whose exit releases the session (the caller by
  default); `pool_name:` a pool (see `SnakeBridge.Pool`) whose worker for this session
  gets the session too, so that `release/1` and the owner's exit release its refs
  there (without it, the session id only labels refs made on workers), and calls that
  give only this session's id (or run inside `with_session/2`) go to that pool.
  """
  @spec start(keyword()) :: {:ok, id()}
  def start(opts \\ []) when is_list(opts) do
    affinity =
      case Keyword.get(opts, :affinity, :any) do
        :thread -> true
        :any -> false
        other -> raise ArgumentError, "affinity must be :thread or :any, got: #{inspect(other)}"
      end

    owner = Keyword.get(opts, :owner, self())

    unless is_pid(owner) and node(owner) == node() do
      raise ArgumentError, "owner must be a local pid, got: #{inspect(owner)}"
    end

    {:ok, id} =
      if SnakeBridge.Pool.embedded?(),
        do: SnakeBridge.Native.session_start(affinity, owner),
        else: {:ok, "session-" <> Base.encode16(:crypto.strong_rand_bytes(16), case: :lower)}

    case Keyword.get(opts, :pool_name) do
      nil -> {:ok, id}
      pool -> start_on_worker(pool, id, affinity, owner)
    end
  end

  # The session also lives on the pool worker its calls go to (the same id there).
  defp start_on_worker(pool, id, affinity, owner) do
    result =
      case SnakeBridge.Pool.pick(pool, id, []) do
        {:remote, node, _} -> :erpc.call(node, __MODULE__, :start_here, [id, affinity, owner])
        :local -> {:ok, id}
        {:error, _} = error -> error
      end

    case result do
      {:ok, ^id} ->
        # Calls that give only this id go to the pool (SnakeBridge.Runtime.ctx/2).
        :ok = SnakeBridge.Pool.Sessions.register(id, pool, owner)
        {:ok, id}

      other ->
        other
    end
  catch
    :error, {:erpc, reason} -> {:error, {:worker_down, reason}}
  end

  @doc false
  # On a worker: the session `id` of a process of another node. A local process stands
  # for the owner (the NIF watches local processes): it exits when the owner does or
  # its node disconnects, which releases the session here.
  def start_here(id, affinity, owner) do
    parent = self()

    proxy =
      spawn(fn ->
        ref = Process.monitor(owner)
        send(parent, {:proxy, self()})

        receive do
          {:DOWN, ^ref, _, _, _} -> :ok
        end
      end)

    receive do
      {:proxy, ^proxy} -> SnakeBridge.Native.session_start_as(id, affinity, proxy)
    end
  end

  @doc """
  Runs `fun` with `id` as the session of every call made in it by this process (unless
  a call names its own `session_id`).

      iex> {:ok, session} = SnakeBridge.Session.start()
      iex> {:ok, ref} = SnakeBridge.Session.with_session(session, fn -> SnakeBridge.call("fractions", "Fraction", [1, 3]) end)
      iex> ref.session_id == session
      true
  """
  @spec with_session(id(), (() -> result)) :: result when result: term()
  def with_session(id, fun) when is_binary(id) and is_function(fun, 0) do
    previous = Process.put(@key, id)

    try do
      fun.()
    after
      if previous, do: Process.put(@key, previous), else: Process.delete(@key)
    end
  end

  @doc "The session `with_session/2` set for this process, or `nil`."
  @spec current() :: id() | nil
  def current, do: Process.get(@key)

  @doc """
  Releases the session: its work still queued or running is stopped (Python code is
  interrupted, as by a timeout) and answers `{:error, :released}`, later uses of it give
  `{:error, :released}`, and every ref and stream it made is released on the session's
  thread: iterators are closed (a generator's `finally` runs) and objects are dropped.

  Returns `:ok` once that is done, or after #{@release_wait} ms when the session's thread
  is still busy (Python code blocked in a C call cannot be interrupted): its objects are
  then released as soon as the thread is free. Also `:ok` for a session released before.
  """
  @spec release(id()) :: :ok
  def release(id) when is_binary(id) do
    SnakeBridge.Pool.Sessions.unregister(id)
    # Its work and refs on pool workers (connected ones) are released too, at once.
    connected = :erlang.nodes(:connected)

    remote =
      for pool <- SnakeBridge.Pool.pools(),
          node <- SnakeBridge.Pool.nodes(pool),
          node in connected,
          do: Task.async(fn -> release_on(node, id) end)

    if SnakeBridge.Pool.embedded?(), do: release_here(id)
    Task.await_many(remote, :infinity)
    :ok
  end

  @doc false
  # On this node: closes the session and waits (a while) for its objects' release. A
  # process of its own waits, so a late confirmation never reaches the caller.
  def release_here(id) do
    task =
      Task.async(fn ->
        tag = make_ref()

        if SnakeBridge.Native.session_release(id, tag) do
          receive do
            Messages.released(^tag) -> :ok
          end
        end
      end)

    _ = Task.yield(task, @release_wait) || Task.shutdown(task, :brutal_kill)
    :ok
  end

  defp release_on(node, id) do
    :erpc.call(node, __MODULE__, :release_here, [id], @release_wait + 1_000)
  catch
    _, _ -> :ok
  end
end
