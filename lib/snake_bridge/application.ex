defmodule SnakeBridge.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    SnakeBridge.Runtime.reload_config()
    pools = SnakeBridge.Pool.config!()

    # `config :snakebridge, embedded: false`: a node that only routes to pools (no Python).
    embedded = Application.get_env(:snakebridge, :embedded, true) != false
    :persistent_term.put({SnakeBridge.Pool, :embedded}, embedded)

    pool_children = [
      SnakeBridge.Pool.Keeper,
      SnakeBridge.Pool.Releaser,
      {SnakeBridge.Pool.Supervisor, pools}
    ]

    if embedded do
      with {:ok, _python} <- start_python() do
        shutdown = shutdown_timeout!()

        with {:ok, pid} <- supervise([SnakeBridge.Sink | pool_children]),
             do: {:ok, pid, %{shutdown_timeout: shutdown}}
      end
    else
      supervise(pool_children)
    end
  end

  defp supervise(children),
    do: Supervisor.start_link(children, strategy: :one_for_one, name: SnakeBridge.Supervisor)

  @doc false
  # Starts the embedded Python (once per OS process; a second start only adds paths).
  # Also used by `use SnakeBridge.Library` at compile time when the application cannot be
  # started yet: compiling this project's own test support, before its .app exists.
  # A wrong interpreter is PythonEnv's one-sentence error; a failed start of Python is
  # `{:python_start_failed, reason}`.
  def start_python(extra_paths \\ []) do
    with {:ok, executable} <- SnakeBridge.PythonEnv.executable(),
         :ok <- SnakeBridge.Runtime.reload_config() do
      case SnakeBridge.Native.init(executable, python_paths() ++ extra_paths) do
        {:ok, python} -> {:ok, python}
        {:error, reason} -> {:error, {:python_start_failed, reason}}
      end
    end
  end

  # When the application stops (Application.stop/1, or System.stop/0 and the node's
  # shutdown, which stop every application), Python is not finalised: Py_FinalizeEx
  # cannot run while the library's threads keep their thread states, and CPython cannot
  # start again in this OS process afterwards. What Python does at exit that matters
  # outside this process is done instead, on a library thread, each step bounded:
  #
  #   1. the `atexit` handlers run (last registered first) and are forgotten, within
  #      `shutdown_timeout` ms (5000). Past it the handler running is interrupted (and
  #      so is each later one still running 10 ms later); one blocked in a C call (such
  #      as multiprocessing's, waiting for a non-daemonic child) stays blocked until the
  #      call returns, which step 2 usually brings about;
  #   2. child processes still running are ended: `multiprocessing.active_children()`
  #      and reachable `subprocess.Popen` objects get SIGTERM, then SIGKILL after 1 s.
  #
  # Not done: threading's exit hooks (concurrent.futures executors are not shut down,
  # only their processes ended), joining Python threads, flushing or closing anything
  # not registered with atexit. Python keeps running: starting the application again
  # gives the same interpreter (libraries that shut down in their atexit handlers,
  # such as logging, stay shut down).
  @child_grace_ms 1_000

  @impl true
  def prep_stop(%{shutdown_timeout: timeout} = state) do
    ctx = %SnakeBridge.Context{library: "builtins"}
    _ = SnakeBridge.Executor.run(SnakeBridge.Request.run_atexit(ctx), nil, timeout)
    grace = SnakeBridge.Request.end_children(@child_grace_ms / 1000, ctx)
    _ = SnakeBridge.Executor.run(grace, nil, max(timeout, 5 * @child_grace_ms))
    state
  end

  def prep_stop(state), do: state

  defp shutdown_timeout! do
    case Application.get_env(:snakebridge, :shutdown_timeout, 5_000) do
      ms when is_integer(ms) and ms > 0 ->
        ms

      other ->
        raise ArgumentError,
              "config :snakebridge, shutdown_timeout: must be a positive integer (ms), " <>
                "got: #{inspect(other)}"
    end
  end

  # The app's priv/python directories (every loaded application that has one), then
  # `config :snakebridge, python_path: [...]`. PYTHONPATH is read by Python itself.
  # (Also what a pool's peer workers get, see SnakeBridge.Pool.Boot.)
  @doc false
  def python_paths do
    priv =
      for {app, _, _} <- Application.loaded_applications(),
          dir = priv_python(app),
          do: dir

    priv ++ Enum.map(Application.get_env(:snakebridge, :python_path, []), &Path.expand/1)
  end

  defp priv_python(app) do
    case :code.priv_dir(app) do
      {:error, _} ->
        nil

      priv ->
        dir = Path.join(to_string(priv), "python")
        if File.dir?(dir), do: dir
    end
  end
end
