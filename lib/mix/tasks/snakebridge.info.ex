defmodule Mix.Tasks.Snakebridge.Info do
  @shortdoc "Prints the embedded Python, its venv, sys.path, locked packages and the BEAM's schedulers"
  @moduledoc """
  Starts `:snakebridge` (not your application) and prints what the embedded Python is:
  its version, executable, libpython, venv, `sys.path`, the packages of
  `snakebridge.lock`, the interpreter the NIF was built against, and the BEAM's dirty
  schedulers next to the library's thread pools, with the Tuning advice.

      mix snakebridge.info
  """
  use Mix.Task

  @impl Mix.Task
  def run(_args) do
    Mix.Task.run("compile")

    case Application.ensure_all_started(:snakebridge) do
      {:ok, _} -> :ok
      {:error, {:snakebridge, {message, _}}} when is_binary(message) -> Mix.raise(message)
      {:error, reason} -> Mix.raise("SnakeBridge did not start: #{inspect(reason)}")
    end

    Mix.shell().info(report())
  end

  defp report do
    py = fn expr -> SnakeBridge.eval!(expr) end
    {build_base, build_version} = SnakeBridge.PythonEnv.build()

    source =
      case SnakeBridge.PythonEnv.choice() do
        nil -> "the build interpreter"
        {source, path} -> "#{source} #{path}"
      end

    prefix = py.("__import__('sys').prefix")
    base_prefix = py.("__import__('sys').base_prefix")
    venv = if prefix != base_prefix, do: prefix, else: "none (the base interpreter)"
    {threads, stream_threads} = pools()

    """
    Python
      version:     #{py.("__import__('sys').version")}
      executable:  #{py.("__import__('sys').executable")}  (chosen by: #{source})
      libpython:   #{libpython(py)}
      venv:        #{venv}
      sys.path:
    #{Enum.map_join(py.("__import__('sys').path"), "\n", &"    #{&1}")}

    Packages (#{lock_path()}):
    #{locked()}

    NIF
      built against: #{build_base}#{if build_version, do: " (Python #{build_version})"}
      file:          #{SnakeBridge.Native.nif_path()}

    BEAM schedulers
      schedulers online: #{:erlang.system_info(:schedulers_online)}
      dirty CPU:         #{:erlang.system_info(:dirty_cpu_schedulers_online)}
      dirty I/O:         #{:erlang.system_info(:dirty_io_schedulers)}
      SnakeBridge pools: threads #{threads}, stream_threads #{stream_threads}

    Tuning: Python runs on the library's own threads, not on dirty schedulers (only
    arguments of more than ~2000 terms are copied on a dirty CPU scheduler), so the
    BEAM's defaults need no change. Raise `threads` when many calls wait on I/O at once;
    for CPU-bound Python more threads do not help (the GIL): use a pool of nodes
    (config :snakebridge, pools: ...). See the README's Tuning section.
    """
  end

  defp pools do
    stats = SnakeBridge.Runtime.thread_stats()
    max = fn pool -> get_in(stats, [pool, :max]) || "?" end
    {max.(:calls), max.(:streams)}
  end

  # The libpython this process really mapped (Linux), else the running Python's own.
  defp libpython(py) do
    mapped =
      case File.read("/proc/self/maps") do
        {:ok, maps} ->
          maps
          |> String.split("\n")
          |> Enum.map(&(&1 |> String.split(" ", trim: true) |> List.last()))
          |> Enum.find(&(is_binary(&1) and String.contains?(&1, "libpython")))

        _ ->
          nil
      end

    mapped ||
      py.(
        "__import__('os').path.join(__import__('sysconfig').get_config_var('LIBDIR'), " <>
          "__import__('sysconfig').get_config_var('LDLIBRARY'))"
      )
  end

  defp lock_path, do: Path.join(File.cwd!(), "snakebridge.lock")

  defp locked do
    case File.read(lock_path()) do
      {:ok, text} ->
        case text
             |> String.split("\n", trim: true)
             |> Enum.reject(&String.starts_with?(&1, "#")) do
          [] -> "  (none)"
          lines -> Enum.map_join(lines, "\n", &"  #{&1}")
        end

      {:error, _} ->
        "  (no snakebridge.lock: no packages declared, or mix snakebridge.setup not run)"
    end
  end
end
