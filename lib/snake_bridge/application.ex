defmodule SnakeBridge.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    SnakeBridge.Runtime.reload_config()

    case SnakeBridge.Native.init(executable(), python_paths()) do
      {:ok, _python} ->
        Supervisor.start_link([SnakeBridge.Sink],
          strategy: :one_for_one,
          name: SnakeBridge.Supervisor
        )

      {:error, reason} ->
        {:error, {:python_start_failed, reason}}
    end
  end

  # SNAKEBRIDGE_PYTHON at run time picks another interpreter of the same build (a
  # virtualenv's python); otherwise the one the NIF was built against.
  defp executable do
    case System.get_env("SNAKEBRIDGE_PYTHON") do
      nil -> nil
      "" -> nil
      python -> if String.contains?(python, "/"), do: python, else: System.find_executable(python)
    end
  end

  # The app's priv/python directories (every loaded application that has one), then
  # `config :snakebridge, python_path: [...]`. PYTHONPATH is read by Python itself.
  defp python_paths do
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
