defmodule SnakeBridge.MixPython do
  # What the NIF compiler and the `mix snakebridge.*` tasks share: the build interpreter,
  # where the NIF and the app's venv go, installing the declared packages. It lives in
  # mix.exs because a project cannot use its own lib/ before lib/ compiles.
  @moduledoc false

  @root __DIR__
  @lib "libsnakebridge_nif.so"

  # Py_ENABLE_SHARED, the base interpreter (a venv's python names the one it was made
  # from), the version.
  @probe """
  import os, sys, sysconfig
  print(sysconfig.get_config_var('Py_ENABLE_SHARED'))
  print(os.path.realpath(getattr(sys, '_base_executable', None) or sys.executable))
  print('%d.%d.%d' % sys.version_info[:3])
  """

  # SnakeBridge's directory in the build of the project being compiled: the NIF and the
  # venv go there, so the library's checkout and each app that depends on it have their own.
  def app_dir, do: Path.join([Mix.Project.build_path(), "lib", "snakebridge"])
  def nif_path, do: Path.join([app_dir(), "priv", "native", @lib])
  def venv_dir, do: Path.join([app_dir(), "priv", "venv"])
  def venv_python, do: Path.join([venv_dir(), "bin", "python"])

  # The project that owns _build (the app, or the library's own checkout).
  def project_root, do: Path.expand("../..", Mix.Project.build_path())
  def lock_path, do: Path.join(project_root(), "snakebridge.lock")

  # cargo's directory: the checkout's target/ for the library itself, the app's
  # _build/snakebridge_target for an app that depends on it.
  def cargo_target_dir do
    root = project_root()

    if root == @root,
      do: Path.join(@root, "target"),
      else: Path.join(root, "_build/snakebridge_target")
  end

  @doc "The interpreter to build against: %{shared:, base:, version:}."
  def build_interpreter! do
    {source, python} =
      cond do
        env = non_empty(System.get_env("SNAKEBRIDGE_PYTHON")) ->
          {"SNAKEBRIDGE_PYTHON ", env}

        config = non_empty(Application.get_env(:snakebridge, :python)) ->
          {"config :snakebridge, python: ", config}

        python3 = System.find_executable("python3") ->
          {"", python3}

        true ->
          no_python!()
      end

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
    stat = fn path ->
      case File.stat(path, time: :posix) do
        {:ok, s} -> {s.mtime, s.size, s.inode}
        _ -> nil
      end
    end

    pyenv_root = System.get_env("PYENV_ROOT") || Path.expand("~/.pyenv")

    version_files =
      [
        Path.join(pyenv_root, "version")
        | Enum.map(ancestors(File.cwd!()), &Path.join(&1, ".python-version"))
      ]
      |> Enum.map(&File.read/1)

    {python, stat.(python), stat.(base), System.get_env("PYENV_VERSION"), version_files}
  end

  defp ancestors(dir) do
    case Path.dirname(dir) do
      ^dir -> [dir]
      parent -> [dir | ancestors(parent)]
    end
  end

  defp no_python! do
    Mix.raise(
      "SnakeBridge needs Python 3: put python3 on PATH or set SNAKEBRIDGE_PYTHON to an interpreter."
    )
  end

  defp non_empty(""), do: nil
  defp non_empty(value), do: value

  def probe(python) do
    case System.cmd(python, ["-c", @probe], stderr_to_stdout: true, env: [{"PYTHONHOME", nil}]) do
      {out, 0} ->
        case String.split(out, "\n", trim: true) do
          [shared, base, version] ->
            {:ok, %{shared: shared == "1", base: base, version: version}}

          _ ->
            {:error, {:output, out}}
        end

      {out, status} ->
        {:error, "exit status #{status}: #{String.trim(out)}"}
    end
  rescue
    e in ErlangError ->
      case e.original do
        :enoent ->
          {:error, "it does not exist"}

        reason when is_atom(reason) ->
          {:error, "it cannot be run (#{:file.format_error(reason)})"}

        reason ->
          {:error, inspect(reason)}
      end
  end

  @doc "The stamp written next to the NIF: the base interpreter and its version."
  def stamp(%{base: base, version: version}), do: "#{base}\n#{version}\n"

  ## Declared packages

  @doc "The declared packages: `{packages, requirements_file | nil}`."
  def declared do
    packages = Application.get_env(:snakebridge, :python_packages, [])

    (is_list(packages) && Enum.all?(packages, &is_binary/1)) ||
      Mix.raise(
        "config :snakebridge, python_packages: must be a list of pip requirement strings, got: #{inspect(packages)}"
      )

    requirements =
      case Application.get_env(:snakebridge, :requirements) do
        nil -> nil
        path -> Path.expand(path, project_root())
      end

    if requirements && not File.regular?(requirements) do
      Mix.raise("config :snakebridge, requirements: #{requirements} does not exist.")
    end

    {packages, requirements}
  end

  defp packages_stamp({packages, requirements}, info) do
    req = if requirements, do: File.read!(requirements), else: ""
    Enum.join([stamp(info), Enum.join(packages, "\n"), "--", req], "\n")
  end

  defp stamp_path, do: Path.join(venv_dir(), "snakebridge_packages")

  @doc "Creates or updates the venv when the declared list changed (`force`: always)."
  # `lock: :write` (mix snakebridge.setup) writes snakebridge.lock after an install;
  # `lock: :keep` (mix compile) writes it only when there is none, and otherwise says when
  # the venv no longer matches it: the committed lock changes only by `setup`, so
  # `setup --check` on another machine compares against what was committed.
  def ensure_packages!(info, force \\ false, lock \\ :keep) do
    declared = declared()
    wanted = packages_stamp(declared, info)

    cond do
      declared == {[], nil} ->
        if File.exists?(venv_dir()) do
          Mix.shell().info(
            "SnakeBridge: no Python packages declared any more; removing #{venv_dir()}"
          )

          File.rm_rf!(venv_dir())
          :ok
        else
          :noop
        end

      not force and File.read(stamp_path()) == {:ok, wanted} ->
        :noop

      true ->
        install!(declared, info, wanted, lock)
        :ok
    end
  end

  defp install!({packages, requirements}, info, wanted, lock) do
    venv = venv_dir()

    previous = File.read(stamp_path())

    cond do
      not File.exists?(venv) ->
        :ok

      base_changed?(previous, info) ->
        Mix.shell().info("SnakeBridge: the build Python changed; making the venv afresh")
        File.rm_rf!(venv)

      removed?(previous, wanted) ->
        # pip does not uninstall: a venv without a package that was dropped starts afresh.
        Mix.shell().info("SnakeBridge: a Python package was removed; making the venv afresh")
        File.rm_rf!(venv)

      true ->
        :ok
    end

    unless File.exists?(venv_python()) do
      create_venv!(venv, info)
    end

    reqs = if requirements, do: ["-r", requirements], else: []
    {pip, pip_args} = pip(info)
    constraints = constraints!(pip, packages, requirements)
    args = pip_args ++ ["install"] ++ constraints ++ reqs ++ packages

    Mix.shell().info(
      "SnakeBridge: installing Python packages: #{Enum.join(packages ++ reqs, " ")}"
    )

    {out, status} = run_streaming(pip, args)

    if status != 0 do
      File.rm(stamp_path())
      Mix.raise(install_error(packages, requirements, out))
    end

    File.write!(stamp_path(), wanted)

    cond do
      lock == :write or not File.exists?(lock_path()) ->
        write_lock!(info)

      read_lock() != {:ok, freeze(info)} ->
        Mix.shell().info([
          :yellow,
          "SnakeBridge: the venv no longer matches #{lock_path()}: " <>
            "run mix snakebridge.setup to update it",
          :reset
        ])

      true ->
        :ok
    end
  end

  # The lock's versions as pip constraints, except those a declared requirement now
  # excludes (a version changed in the config wins over the lock) and direct URLs (pip
  # takes only names and versions as constraints). Filtered with pip's own `packaging`.
  @constraints_py """
  import sys
  from pip._vendor.packaging.requirements import Requirement
  from pip._vendor.packaging.utils import canonicalize_name
  lock, out, requirements = sys.argv[1:4]
  declared = list(sys.argv[4:])
  if requirements:
      with open(requirements) as f:
          declared += [l.split(' #')[0].strip() for l in f if l.strip() and l.strip()[0] not in '#-']
  specs = {}
  for text in declared:
      try:
          r = Requirement(text)
      except Exception:
          continue
      specs.setdefault(canonicalize_name(r.name), []).append(r.specifier)
  kept = []
  with open(lock) as f:
      for line in f:
          line = line.strip()
          if not line or line.startswith('#') or ' @ ' in line or '==' not in line:
              continue
          r = Requirement(line)
          version = line.split('==', 1)[1].strip()
          if all(s.contains(version, prereleases=True) for s in specs.get(canonicalize_name(r.name), [])):
              kept.append(line)
  with open(out, 'w') as f:
      f.write(''.join(l + '\\n' for l in kept))
  """

  defp constraints!(pip, packages, requirements) do
    lock = lock_path()

    if File.regular?(lock) do
      out = Path.join(venv_dir(), "snakebridge_constraints.txt")
      args = ["-c", @constraints_py, lock, out, requirements || ""] ++ packages
      {text, status} = System.cmd(pip, args, stderr_to_stdout: true, env: clean_env())
      status == 0 || Mix.raise("SnakeBridge could not read #{lock}: #{text}")
      ["-c", out]
    else
      []
    end
  end

  # The build Python's own pip, when it has one that can install into another
  # environment (pip >= 22.3, `--python`): the venv is then made without pip, in a
  # fraction of a second instead of the seconds ensurepip takes. Otherwise ensurepip.
  defp create_venv!(venv, info) do
    own_pip? = base_pip?(info)
    flags = if own_pip?, do: ["--without-pip"], else: []

    how =
      if own_pip?,
        do: "#{info.base} -m venv --without-pip; its pip installs",
        else: "#{info.base} -m venv"

    Mix.shell().info("SnakeBridge: creating a Python venv in #{venv} (#{how})")

    {out, status} =
      System.cmd(info.base, ["-m", "venv"] ++ flags ++ [venv],
        stderr_to_stdout: true,
        env: clean_env()
      )

    status == 0 || Mix.raise("SnakeBridge could not create a venv in #{venv}: #{out}")
  end

  defp base_pip?(info) do
    case System.cmd(info.base, ["-m", "pip", "--version"],
           stderr_to_stdout: true,
           env: clean_env()
         ) do
      {"pip " <> rest, 0} ->
        case Integer.parse(rest) do
          {major, "." <> more} ->
            major > 22 or (major == 22 and elem(Integer.parse(more), 0) >= 3)

          _ ->
            false
        end

      _ ->
        false
    end
  rescue
    _ -> false
  end

  # How to run pip for the venv: its own, or the build Python's with --python.
  defp pip(info) do
    common = ["--disable-pip-version-check"]

    if File.exists?(Path.join([venv_dir(), "bin", "pip"])),
      do: {venv_python(), ["-m", "pip"] ++ common},
      else: {info.base, ["-m", "pip", "--python", venv_python()] ++ common}
  end

  defp base_changed?({:ok, text}, info), do: not String.starts_with?(text, stamp(info))
  defp base_changed?(_, _), do: true

  defp removed?({:ok, old}, new) do
    [old, new] =
      Enum.map([old, new], fn text ->
        text
        |> String.split("\n")
        |> Enum.drop(3)
        |> Enum.reject(&(&1 in ["", "--"] or String.starts_with?(&1, ["#", "-"])))
        |> Enum.map(&req_name/1)
      end)

    old -- new != []
  end

  defp removed?(_, _), do: false

  defp req_name(req),
    do:
      req
      |> String.trim()
      |> String.split(~r/[\s<>=!~;\[@]/, parts: 2)
      |> hd()
      |> String.downcase()

  defp clean_env,
    do: [{"PYTHONHOME", nil}, {"PYTHONPATH", nil}, {"PIP_DISABLE_PIP_VERSION_CHECK", "1"}]

  # pip's output is shown as it comes (and kept, to name what failed).
  defp run_streaming(exe, args) do
    port =
      Port.open({:spawn_executable, exe}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        args: args,
        env:
          for(
            {k, v} <- clean_env(),
            do: {String.to_charlist(k), (v && String.to_charlist(v)) || false}
          )
      ])

    collect(port, [])
  end

  defp collect(port, acc) do
    receive do
      {^port, {:data, data}} ->
        IO.write(data)
        collect(port, [acc | data])

      {^port, {:exit_status, status}} ->
        {IO.iodata_to_binary(acc), status}
    end
  end

  defp install_error(packages, requirements, out) do
    errors =
      out
      |> String.split("\n")
      |> Enum.filter(&String.starts_with?(&1, "ERROR"))
      |> Enum.map(&String.trim/1)

    named =
      Enum.filter(packages, fn req ->
        Enum.any?(errors, &String.contains?(String.downcase(&1), req_name(req)))
      end)

    what =
      case named do
        [] -> Enum.join(packages ++ List.wrap(requirements), ", ")
        named -> Enum.join(named, ", ")
      end

    "SnakeBridge could not install the Python package(s) #{what}: pip said: " <>
      (Enum.join(errors, " ") |> String.slice(0, 600))
  end

  def freeze(info) do
    {pip, args} = pip(info)
    {out, status} = System.cmd(pip, args ++ ["freeze"], stderr_to_stdout: true, env: clean_env())

    status == 0 ||
      Mix.raise("SnakeBridge could not list the venv's packages (pip freeze): #{out}")

    out |> String.split("\n", trim: true) |> Enum.sort()
  end

  @lock_header "# The Python packages in SnakeBridge's venv (pip freeze), written by\n" <>
                 "# `mix snakebridge.setup`; commit it. Installs use it as pip constraints, and\n" <>
                 "# `mix snakebridge.setup --check` fails when the venv does not match it.\n"

  def write_lock!(info) do
    File.write!(lock_path(), @lock_header <> Enum.map_join(freeze(info), &(&1 <> "\n")))
    Mix.shell().info("SnakeBridge: wrote #{lock_path()}")
  end

  def read_lock do
    case File.read(lock_path()) do
      {:ok, text} ->
        {:ok,
         text
         |> String.split("\n", trim: true)
         |> Enum.reject(&String.starts_with?(&1, "#"))
         |> Enum.sort()}

      {:error, _} ->
        :error
    end
  end

  @doc "Why the venv does not match the declared list and the lock (nil when it does)."
  def check(info) do
    declared = declared()

    cond do
      declared == {[], nil} ->
        nil

      not File.exists?(venv_python()) ->
        "there is no venv in #{venv_dir()} (run mix snakebridge.setup)"

      File.read(stamp_path()) != {:ok, packages_stamp(declared, info)} ->
        "the venv in #{venv_dir()} was not set up for the declared packages (run mix snakebridge.setup)"

      true ->
        case read_lock() do
          :error ->
            "there is no #{lock_path()} (run mix snakebridge.setup)"

          {:ok, locked} ->
            installed = freeze(info)

            if installed == locked do
              nil
            else
              missing = locked -- installed
              extra = installed -- locked

              "the venv does not match #{lock_path()} (locked but not installed: " <>
                "#{inspect(missing)}; installed but not locked: #{inspect(extra)})"
            end
        end
    end
  end
end

defmodule Mix.Tasks.Compile.SnakebridgeNif do
  # Builds the Rust NIF with cargo into this build's priv/native (no hex package needed),
  # then the venv of the declared Python packages when their list changed. It lives here
  # because a project cannot use a compiler from its own lib/.
  @moduledoc false
  use Mix.Task.Compiler

  alias SnakeBridge.MixPython

  @root __DIR__
  @lib "libsnakebridge_nif.so"

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

    File.rm_rf!(Path.join([@root, "priv", "native"]))
    File.rmdir(Path.join(@root, "priv"))
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
    sources =
      Path.wildcard(Path.join(@root, "native/**/*.{rs,py,toml}")) ++
        Enum.map(["Cargo.toml", "Cargo.lock"], &Path.join(@root, &1))

    not File.exists?(dest) or File.read(stamp) != {:ok, MixPython.stamp(python)} or
      Enum.any?(sources, &(File.exists?(&1) and newer?(&1, dest)))
  end

  defp newer?(a, b), do: File.stat!(a, time: :posix).mtime > File.stat!(b, time: :posix).mtime

  defp build!(cargo, python, dest, stamp) do
    target = MixPython.cargo_target_dir()

    Mix.shell().info(
      "Compiling SnakeBridge NIF (cargo build --release, Python: #{python.base}, target: #{target})"
    )

    args = ["build", "--release", "-p", "snakebridge_nif", "--manifest-path", "Cargo.toml"]

    {_, status} =
      System.cmd(cargo, args,
        cd: @root,
        env: [{"PYO3_PYTHON", python.base}, {"CARGO_TARGET_DIR", target}],
        into: IO.stream(:stdio, :line),
        stderr_to_stdout: true
      )

    status == 0 || Mix.raise("cargo build of the SnakeBridge NIF failed (exit #{status}).")
    File.mkdir_p!(Path.dirname(dest))
    # Copy then rename: a running VM may have the old library mapped.
    tmp = "#{dest}.#{System.unique_integer([:positive])}.tmp"
    File.cp!(Path.join([target, "release", @lib]), tmp)
    File.rename!(tmp, dest)
    File.write!(stamp, MixPython.stamp(python))
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
      extra_applications: [:logger, :crypto],
      mod: {SnakeBridge.Application, []}
    ]
  end
end
