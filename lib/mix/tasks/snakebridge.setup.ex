defmodule Mix.Tasks.Snakebridge.Setup do
  @shortdoc "Creates the venv of the declared Python packages and writes snakebridge.lock"
  @moduledoc """
  Creates a Python venv for the app under `_build` (with the embedded interpreter's own
  `venv` and `pip`) and installs the packages the app declares, unless the venv already
  holds them:

      config :snakebridge, python_packages: ["numpy>=2", "pandas==2.2.3"]
      config :snakebridge, requirements: "requirements.txt"   # relative to the project

  pip's output is shown. The installed versions are written to `snakebridge.lock` next to
  `mix.exs` (commit it): later installs use it as pip constraints. The embedded Python
  uses the venv with nothing else set. `mix compile` installs too when the declared list
  changed, but writes the lock only when there is none (it says when the venv no longer
  matches the lock): the lock changes by this task only.

      mix snakebridge.setup            # create or update the venv, write the lock
      mix snakebridge.setup --force    # run pip even when the declared list did not change
      mix snakebridge.setup --check    # fail unless the venv matches the lock
  """
  use Mix.Task

  @impl Mix.Task
  def run(args) do
    {opts, _} = OptionParser.parse!(args, strict: [check: :boolean, force: :boolean])
    Mix.Task.run("loadconfig")
    python = mix_python().build_interpreter!()

    cond do
      opts[:check] && mix_python().declared() == {[], nil} ->
        Mix.shell().info("SnakeBridge: no Python packages declared, nothing to check")

      opts[:check] ->
        case mix_python().check(python) do
          nil -> Mix.shell().info("SnakeBridge: the Python venv matches snakebridge.lock")
          why -> Mix.raise("SnakeBridge: #{why}.")
        end

      mix_python().declared() == {[], nil} ->
        _ = mix_python().ensure_packages!(python)

        Mix.shell().info(
          "SnakeBridge: no Python packages declared (config :snakebridge, " <>
            ~s|python_packages: ["name==version", ...] or requirements: "requirements.txt")|
        )

      true ->
        case mix_python().ensure_packages!(python, opts[:force] || false, :write) do
          :ok ->
            :ok

          :noop ->
            mix_python().write_lock!(python)

            Mix.shell().info(
              "SnakeBridge: the venv in #{mix_python().venv_dir()} already holds the declared " <>
                "packages (--force runs pip again)"
            )
        end
    end
  end

  # Defined by the library's mix.exs, which Mix loads with the dependency.
  defp mix_python do
    module = SnakeBridge.MixPython

    Code.ensure_loaded?(module) ||
      Mix.raise(
        "SnakeBridge's mix.exs is not loaded: run this task in a project that depends on :snakebridge"
      )

    module
  end
end
