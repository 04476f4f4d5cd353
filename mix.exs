defmodule Mix.Tasks.Compile.SnakebridgeNif do
  # Builds the Rust NIF with cargo and places it in priv/native (no hex package needed).
  # It lives here because a project cannot use a compiler from its own lib/.
  @moduledoc false
  use Mix.Task.Compiler

  @root __DIR__
  @lib "libsnakebridge_nif.so"

  @impl Mix.Task.Compiler
  def run(_args) do
    python = python!()
    dest = Path.join([@root, "priv", "native", @lib])
    stamp = dest <> ".python"

    result =
      if stale?(dest, stamp, python) do
        build!(cargo!(), python, dest, stamp)
        :ok
      else
        :noop
      end

    # priv/native must exist before Mix links _build/.../priv, or a fresh clone's first
    # build cannot find the library.
    Mix.Project.build_structure()
    {result, []}
  end

  defp cargo! do
    System.find_executable("cargo") ||
      Enum.find([Path.expand("~/.cargo/bin/cargo")], &File.exists?/1) ||
      Mix.raise(
        "SnakeBridge needs Rust's cargo to build its NIF: install Rust (rustup.rs) and put cargo on PATH."
      )
  end

  # The interpreter to build against, resolved to its real path (a pyenv shim or a
  # symlink names the same Python as its target).
  defp python! do
    python = System.get_env("SNAKEBRIDGE_PYTHON") || System.find_executable("python3")

    probe =
      "import sys, sysconfig; print(sysconfig.get_config_var('Py_ENABLE_SHARED')); print(sys.executable)"

    check = python && System.cmd(python, ["-c", probe], stderr_to_stdout: true)

    case check do
      {out, 0} ->
        case String.split(out, "\n", trim: true) do
          ["1", executable] ->
            executable

          ["0", _] ->
            Mix.raise(
              "SnakeBridge needs a Python built with a shared libpython (--enable-shared); #{python} has none."
            )

          _ ->
            Mix.raise("SnakeBridge could not read the configuration of #{python}: #{out}")
        end

      _ ->
        Mix.raise(
          "SnakeBridge needs Python 3: put python3 on PATH or set SNAKEBRIDGE_PYTHON to an interpreter."
        )
    end
  rescue
    e in ErlangError ->
      Mix.raise(
        "SnakeBridge could not run Python (#{inspect(e.original)}): set SNAKEBRIDGE_PYTHON."
      )
  end

  defp stale?(dest, stamp, python) do
    sources =
      Path.wildcard(Path.join(@root, "native/**/*.{rs,py,toml}")) ++
        Enum.map(["Cargo.toml", "Cargo.lock"], &Path.join(@root, &1))

    not File.exists?(dest) or File.read(stamp) != {:ok, python} or
      Enum.any?(sources, &(File.exists?(&1) and newer?(&1, dest)))
  end

  defp newer?(a, b), do: File.stat!(a, time: :posix).mtime > File.stat!(b, time: :posix).mtime

  defp build!(cargo, python, dest, stamp) do
    Mix.shell().info("Compiling SnakeBridge NIF (cargo build --release, Python: #{python})")

    args = ["build", "--release", "-p", "snakebridge_nif", "--manifest-path", "Cargo.toml"]

    {_, status} =
      System.cmd(cargo, args,
        cd: @root,
        env: [{"PYO3_PYTHON", python}],
        into: IO.stream(:stdio, :line),
        stderr_to_stdout: true
      )

    status == 0 || Mix.raise("cargo build of the SnakeBridge NIF failed (exit #{status}).")
    File.mkdir_p!(Path.dirname(dest))
    # Copy then rename: a running VM may have the old library mapped.
    tmp = "#{dest}.#{System.unique_integer([:positive])}.tmp"
    File.cp!(Path.join([@root, "target", "release", @lib]), tmp)
    File.rename!(tmp, dest)
    File.write!(stamp, python)
  end
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
      extra_applications: [:logger],
      mod: {SnakeBridge.Application, []}
    ]
  end
end
