defmodule SnakeBridge.TestApps do
  @moduledoc false
  # Throwaway Mix apps that depend on this library by path, as a user's app does: what
  # the tests that build one (first compile, releases, packages, pools, wrappers) share.

  @root Path.expand("../..", __DIR__)

  # What a `mix test` run exports that would leak into a child Mix project or VM.
  @leaks ~w(MIX_BUILD_PATH MIX_BUILD_ROOT MIX_DEPS_PATH MIX_LOCKFILE MIX_EXS MIX_TARGET
            SNAKEBRIDGE_PYTHON PYTHONPATH PYTHONHOME)

  @doc "The environment of a child project: the leaks unset, then `extra` (which wins)."
  def env(extra \\ []), do: [{"MIX_ENV", "dev"} | Enum.map(@leaks, &{&1, nil})] ++ extra

  @doc """
  A fresh app `name` (an atom) in a directory of its own with lib/ and config/, depending
  on the library at `:library` (this checkout), cargo's cache seeded from this checkout's
  target/release unless `seed_cargo: false` (then only SnakeBridge's crates compile).
  Returns its directory.
  """
  def new!(dir, name, opts \\ []) do
    library = Keyword.get(opts, :library, @root)
    File.mkdir_p!(Path.join(dir, "lib"))
    File.mkdir_p!(Path.join(dir, "config"))
    if Keyword.get(opts, :seed_cargo, true), do: seed_cargo!(dir)

    File.write!(Path.join(dir, "mix.exs"), """
    defmodule #{Macro.camelize(to_string(name))}.MixProject do
      use Mix.Project

      def project do
        [app: :#{name}, version: "0.1.0", elixir: "~> 1.14", deps: deps()]
      end

      def application, do: [extra_applications: [:logger]]

      defp deps, do: [{:snakebridge, path: #{inspect(library)}}]
    end
    """)

    dir
  end

  # What a checkout of the library holds (no build of its own).
  @sources ~w(mix.exs Cargo.toml Cargo.lock lib native priv rust_tests)

  @doc """
  A copy of the library's sources in `dir`/snakebridge, for tests that change them or
  must not share this checkout's build. `cp -a` keeps modification times: a copied
  file is not newer than what was built from it.
  """
  def copy_library!(dir) do
    library = Path.join(dir, "snakebridge")
    File.mkdir_p!(library)
    paths = @sources |> Enum.map(&Path.join(@root, &1)) |> Enum.filter(&File.exists?/1)
    {"", 0} = System.cmd("cp", ["-a" | paths] ++ [library], stderr_to_stdout: true)
    File.rm_rf!(Path.join([library, "priv", "native"]))
    library
  end

  @doc "Copies this checkout's cargo build into the app's cargo directory."
  def seed_cargo!(dir) do
    cargo_dir = Path.join(dir, "_build/snakebridge_target")
    File.mkdir_p!(cargo_dir)
    {_, 0} = System.cmd("cp", ["-a", Path.join(@root, "target/release"), cargo_dir])
    cargo_dir
  end

  @doc "`mix args` in `dir` with `env`: `{output, exit status, milliseconds}`."
  def mix(dir, args, env) do
    started = System.monotonic_time(:millisecond)
    {out, status} = System.cmd("mix", args, cd: dir, env: env, stderr_to_stdout: true)
    {out, status, System.monotonic_time(:millisecond) - started}
  end
end
