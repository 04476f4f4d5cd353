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
        from_cache!(python, dest, stamp) || build!(cargo!(), python, dest, stamp)
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
    copy_python!(Path.join([MixPython.root(), "priv", "python"]), Path.join(priv, "python"))
  end

  # The library's own Python files (the wrapper generator's helper): Mix reaches them
  # through the priv symlink just removed, and copies them only on the next compile, so a
  # wrapper compiled in this run would not find them.
  defp copy_python!(source, dest) do
    File.mkdir_p!(dest)

    for {:ok, files} <- [File.ls(source)], file <- files, Path.extname(file) == ".py" do
      from = Path.join(source, file)
      to = Path.join(dest, file)
      if File.read(to) != File.read(from), do: File.cp!(from, to)
    end
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

  # One build per machine: a NIF built from the same crate sources for the same base
  # Python (and the same Rust, on the same system) is kept under the user's cache
  # directory, shared by the library's checkouts and every app. Off with
  # SNAKEBRIDGE_NIF_CACHE=false; SNAKEBRIDGE_CACHE_DIR moves it.
  defp from_cache!(python, dest, stamp) do
    with dir when is_binary(dir) <- cache_dir(python),
         cached = Path.join(dir, MixPython.nif_file()),
         true <- File.regular?(cached) do
      Mix.shell().info("SnakeBridge NIF: reusing the build in #{dir} (same sources and Python)")
      install!(cached, dest)
      File.write!(stamp, MixPython.stamp(python))
      true
    else
      _ -> false
    end
  end

  defp cache_dir(python) do
    if System.get_env("SNAKEBRIDGE_NIF_CACHE") not in ["0", "false", "no"] do
      root =
        System.get_env("SNAKEBRIDGE_CACHE_DIR") ||
          :filename.basedir(:user_cache, "snakebridge") |> to_string()

      Path.join([root, "nif", cache_key(python)])
    end
  end

  # The crate's sources (contents, not times), the interpreter and the toolchain.
  defp cache_key(python) do
    root = MixPython.root()

    files =
      (Path.wildcard(Path.join(root, "native/**/*.{rs,py,toml}")) ++
         Enum.map(["Cargo.toml", "Cargo.lock"], &Path.join(root, &1)))
      |> Enum.filter(&File.regular?/1)
      |> Enum.sort()
      |> Enum.map(&{Path.relative_to(&1, root), File.read!(&1)})

    rustc =
      case System.cmd("rustc", ["-V"], stderr_to_stdout: true) do
        {out, 0} -> out
        _ -> ""
      end

    term =
      {files, MixPython.stamp(python), rustc, System.get_env("RUSTFLAGS"),
       :erlang.system_info(:system_architecture)}

    :crypto.hash(:sha256, :erlang.term_to_binary(term))
    |> Base.encode16(case: :lower)
    |> binary_part(0, 32)
  rescue
    ErlangError -> "unkeyed"
  end

  defp store!(built, python) do
    with dir when is_binary(dir) <- cache_dir(python) do
      File.mkdir_p!(dir)
      install!(built, Path.join(dir, MixPython.nif_file()))
    end
  rescue
    # A read-only or full cache directory costs the next app a build, nothing more.
    e in File.Error -> Mix.shell().info("SnakeBridge NIF: not cached (#{Exception.message(e)})")
  end

  # Copy then rename: a running VM may have the old library mapped, and another build
  # may be reading the cache.
  defp install!(from, dest) do
    File.mkdir_p!(Path.dirname(dest))
    tmp = "#{dest}.#{System.unique_integer([:positive])}.tmp"
    File.cp!(from, tmp)
    File.rename!(tmp, dest)
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
    built = Path.join([target, "release", MixPython.cargo_artifact()])
    install!(built, dest)
    File.write!(stamp, MixPython.stamp(python))
    store!(built, python)
  end
end
