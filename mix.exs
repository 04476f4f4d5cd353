# The NIF compiler (Mix.Tasks.Compile.SnakebridgeNif) and the build's Python code
# (SnakeBridge.MixPython: the build interpreter, where the NIF and the venv go, pip, the
# lock), which the `mix snakebridge.*` tasks use too. A project cannot use its own lib/
# before lib/ compiles: they are .exs files in lib/mix/build (`mix compile` leaves .exs
# alone, and lib/ is in every copy of the library), found from this file.
for file <- ~w(mix_python.exs mix_packages.exs compile.snakebridge_nif.exs) do
  Code.require_file(file, Path.join(__DIR__, "lib/mix/build"))
end

defmodule SnakeBridge.MixProject do
  use Mix.Project

  def project do
    [
      app: :snakebridge,
      version: "0.1.0",
      elixir: "~> 1.14",
      elixirc_paths: elixirc_paths(Mix.env()),
      start_permanent: Mix.env() == :prod,
      compilers: [:snakebridge_nif] ++ Mix.compilers(),
      deps: [],
      aliases: aliases(),
      preferred_cli_env: ["test.all": :test]
    ]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  # The README's two commands: `mix demo` and `mix test.all`.
  defp aliases do
    [
      demo: ["run demo/demo.exs"],
      "test.all": ["test", &cargo_test/1]
    ]
  end

  defp cargo_test(_args) do
    {_, status} =
      System.cmd("cargo", ["test", "--release", "--workspace"],
        into: IO.stream(:stdio, :line),
        stderr_to_stdout: true
      )

    status == 0 || Mix.raise("cargo test failed")
  end

  def application do
    [
      extra_applications: [:logger, :crypto],
      mod: {SnakeBridge.Application, []}
    ]
  end
end
