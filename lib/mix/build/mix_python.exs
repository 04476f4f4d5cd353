defmodule SnakeBridge.MixPython do
  # What the NIF compiler and the `mix snakebridge.*` tasks share: the build interpreter,
  # where the NIF and the app's venv go. The declared packages (venv, pip, lock) are in
  # SnakeBridge.MixPython.Packages. Required by mix.exs (a project cannot use its own lib/
  # before lib/ compiles): a .exs file, which `mix compile` leaves alone.
  @moduledoc false

  alias SnakeBridge.MixPython.Packages

  # The library's checkout (this file is in lib/mix/build).
  @root Path.expand("../../..", __DIR__)

  # What an interpreter is asked, here and by SnakeBridge.PythonEnv at start.
  @probe_file Path.join(@root, "lib/snake_bridge/python_probe.py")
  @probe File.read!(@probe_file)

  # The crate cargo builds. Its file is named once, here: SnakeBridge.Native (the loader)
  # takes the name from nif_file/0 when it compiles.
  @crate "snakebridge_nif"

  def root, do: @root
  def crate, do: @crate

  @doc "The NIF's file in priv/native: what :erlang.load_nif finds (it adds .so on Unix)."
  def nif_file, do: "lib#{@crate}.so"

  @doc "The file cargo makes: lib<crate> and the platform's shared-library suffix."
  def cargo_artifact do
    case :os.type() do
      {:unix, :darwin} -> "lib#{@crate}.dylib"
      _ -> "lib#{@crate}.so"
    end
  end

  # SnakeBridge's directory in the build of the project being compiled: the NIF and the
  # venv go there, so the library's checkout and each app that depends on it have their own.
  def app_dir, do: Path.join([Mix.Project.build_path(), "lib", "snakebridge"])
  def nif_path, do: Path.join([app_dir(), "priv", "native", nif_file()])
  def venv_dir, do: Path.join([app_dir(), "priv", "venv"])
  def venv_python, do: Path.join([venv_dir(), "bin", "python"])

  # The project that owns _build (the app, or the library's own checkout).
  def project_root, do: Path.expand("../..", Mix.Project.build_path())
  def lock_path, do: Path.join(project_root(), "snakebridge.lock")

  # cargo's directory: the checkout's target/ for the library itself, the app's
  # _build/snakebridge_target for an app that depends on it; SNAKEBRIDGE_CARGO_TARGET_DIR
  # (builds for several Pythons side by side, as .ci/python_versions does).
  def cargo_target_dir do
    root = project_root()

    cond do
      dir = System.get_env("SNAKEBRIDGE_CARGO_TARGET_DIR") -> Path.expand(dir)
      root == @root -> Path.join(@root, "target")
      true -> Path.join(root, "_build/snakebridge_target")
    end
  end

  @doc "The interpreter to build against: %{shared:, base:, version:, executable:}."
  def build_interpreter! do
    {source, python} = choice()

    case cached_probe(python) do
      {:ok, %{shared: true} = info} ->
        info

      {:ok, _} ->
        Mix.raise(
          "SnakeBridge needs a Python built with a shared libpython (--enable-shared); #{python} has none."
        )

      {:error, {:output, out}} ->
        Mix.raise("SnakeBridge could not read the configuration of #{python}: #{out}")

      {:error, reason} ->
        Mix.raise("SnakeBridge could not run Python #{source}#{python}: #{reason}.")
    end
  end

  defp choice do
    cond do
      env = non_empty(System.get_env("SNAKEBRIDGE_PYTHON")) ->
        {"SNAKEBRIDGE_PYTHON ", env}

      config = non_empty(Application.get_env(:snakebridge, :python)) ->
        {"config :snakebridge, python: ", config}

      python3 = System.find_executable("python3") ->
        {"", python3}

      true ->
        Mix.raise(
          "SnakeBridge needs Python 3: put python3 on PATH or set SNAKEBRIDGE_PYTHON to an interpreter."
        )
    end
  end

  defp non_empty(""), do: nil
  defp non_empty(value), do: value

  # Running Python costs 30-300 ms (a pyenv shim is a shell script): the answer is kept
  # in the build, valid while the named file, the interpreter it gave, and what picks a
  # pyenv shim's version are unchanged. `mix compile` with nothing changed then runs no
  # Python at all.
  defp cached_probe(python) do
    cache = Path.join([app_dir(), "priv", "native", "python_probe"])

    with {:ok, bin} <- File.read(cache),
         {key, info} <- :erlang.binary_to_term(bin),
         true <- key == probe_key(python, info.base) do
      {:ok, info}
    else
      _ ->
        with {:ok, info} <- probe(python) do
          File.mkdir_p!(Path.dirname(cache))
          File.write!(cache, :erlang.term_to_binary({probe_key(python, info.base), info}))
          {:ok, info}
        end
    end
  rescue
    ArgumentError -> probe(python)
  end

  defp probe_key(python, base) do
    pyenv_root = System.get_env("PYENV_ROOT") || Path.expand("~/.pyenv")

    version_files =
      [
        Path.join(pyenv_root, "version")
        | Enum.map(ancestors(File.cwd!()), &Path.join(&1, ".python-version"))
      ]
      |> Enum.map(&File.read/1)

    {python, stat(python), stat(base), System.get_env("PYENV_VERSION"), version_files}
  end

  defp stat(path) do
    case File.stat(path, time: :posix) do
      {:ok, s} -> {s.mtime, s.size, s.inode}
      _ -> nil
    end
  end

  defp ancestors(dir) do
    case Path.dirname(dir) do
      ^dir -> [dir]
      parent -> [dir | ancestors(parent)]
    end
  end

  def probe(python) do
    case System.cmd(python, ["-c", @probe], stderr_to_stdout: true, env: [{"PYTHONHOME", nil}]) do
      {out, 0} ->
        case String.split(out, "\n", trim: true) do
          [shared, base, version, executable] ->
            {:ok, %{shared: shared == "1", base: base, version: version, executable: executable}}

          _ ->
            {:error, {:output, out}}
        end

      {out, status} ->
        {:error, "exit status #{status}: #{String.trim(out)}"}
    end
  rescue
    e in ErlangError -> {:error, cannot_run(e.original)}
  end

  defp cannot_run(:enoent), do: "it does not exist"

  defp cannot_run(reason) when is_atom(reason),
    do: "it cannot be run (#{:file.format_error(reason)})"

  defp cannot_run(reason), do: inspect(reason)

  @doc "The stamp written next to the NIF: the base interpreter and its version."
  def stamp(%{base: base, version: version}), do: "#{base}\n#{version}\n"

  # The declared packages, for the tasks (see SnakeBridge.MixPython.Packages).
  defdelegate declared, to: Packages
  defdelegate ensure_packages!(info, force \\ false, lock \\ :keep), to: Packages
  defdelegate check(info), to: Packages
  defdelegate write_lock!(info), to: Packages
  defdelegate read_lock, to: Packages
  defdelegate freeze(info), to: Packages
end
