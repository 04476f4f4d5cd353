defmodule Mix.Tasks.Compile.SnakebridgeNif do
  # Builds the Rust NIF with cargo into this build's priv/native (no hex package needed),
  # then the venv of the declared Python packages when their list changed. Required by
  # mix.exs: a project cannot use a compiler from its own lib/.
  @moduledoc false
  use Mix.Task.Compiler

  alias SnakeBridge.MixPython

  @impl Mix.Task.Compiler
  def run(_args) do
    python = MixPython.build_interpreter!()
    dest = MixPython.nif_path()
    stamp = dest <> ".python"
    priv_link!()

    nif =
      if stale?(dest, stamp, python) do
        build!(cargo!(), python, dest, stamp)
        :ok
      else
        :noop
      end

    venv = MixPython.ensure_packages!(python)
    {if(nif == :ok or venv == :ok, do: :ok, else: :noop), []}
  end

  # The NIF and the venv live in this build's priv, a real directory: a priv/ symlinked to
  # the library's sources (what Mix does when the sources have one, as checkouts built
  # before did) would be shared by every app that builds the library.
  defp priv_link! do
    priv = Path.join(MixPython.app_dir(), "priv")

    case File.lstat(priv) do
      {:ok, %{type: :symlink}} -> File.rm!(priv)
      _ -> :ok
    end

    File.rm_rf!(Path.join([MixPython.root(), "priv", "native"]))
    File.rmdir(Path.join(MixPython.root(), "priv"))
  end

  defp cargo! do
    System.find_executable("cargo") ||
      Enum.find([Path.expand("~/.cargo/bin/cargo")], &File.exists?/1) ||
      Mix.raise(
        "SnakeBridge needs Rust's cargo to build its NIF: install Rust (rustup.rs) and put cargo on PATH."
      )
  end

  # Rebuilt when a source changed or the base interpreter or its version did: two venvs of
  # one Python share its libpython, so switching between them needs no rebuild.
  defp stale?(dest, stamp, python) do
    root = MixPython.root()

    sources =
      Path.wildcard(Path.join(root, "native/**/*.{rs,py,toml}")) ++
        Enum.map(["Cargo.toml", "Cargo.lock"], &Path.join(root, &1))

    not File.exists?(dest) or File.read(stamp) != {:ok, MixPython.stamp(python)} or
      Enum.any?(sources, &(File.exists?(&1) and newer?(&1, dest)))
  end

  defp newer?(a, b), do: File.stat!(a, time: :posix).mtime > File.stat!(b, time: :posix).mtime

  defp build!(cargo, python, dest, stamp) do
    target = MixPython.cargo_target_dir()

    Mix.shell().info(
      "Compiling SnakeBridge NIF (cargo build --release, Python: #{python.base}, target: #{target})"
    )

    args = ["build", "--release", "-p", MixPython.crate(), "--manifest-path", "Cargo.toml"]

    {_, status} =
      System.cmd(cargo, args,
        cd: MixPython.root(),
        env: [{"PYO3_PYTHON", python.base}, {"CARGO_TARGET_DIR", target}],
        into: IO.stream(:stdio, :line),
        stderr_to_stdout: true
      )

    status == 0 || Mix.raise("cargo build of the SnakeBridge NIF failed (exit #{status}).")
    File.mkdir_p!(Path.dirname(dest))
    # Copy then rename: a running VM may have the old library mapped.
    tmp = "#{dest}.#{System.unique_integer([:positive])}.tmp"
    File.cp!(Path.join([target, "release", MixPython.cargo_artifact()]), tmp)
    File.rename!(tmp, dest)
    File.write!(stamp, MixPython.stamp(python))
  end
end
