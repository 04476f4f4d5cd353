defmodule SnakeBridge.MixPython.Packages do
  # The Python packages an app declares (config :snakebridge, python_packages: /
  # requirements:): the venv in this build's priv/venv, pip, snakebridge.lock. Used by the
  # NIF compiler and `mix snakebridge.setup` through SnakeBridge.MixPython.
  @moduledoc false

  import SnakeBridge.MixPython,
    only: [venv_dir: 0, venv_python: 0, lock_path: 0, project_root: 0, stamp: 1]

  # Filters the lock into pip constraints (see the script).
  @constraints_py File.read!(Path.join(__DIR__, "pip_constraints.py"))

  @lock_header "# The Python packages in SnakeBridge's venv (pip freeze), written by\n" <>
                 "# `mix snakebridge.setup`; commit it. Installs use it as pip constraints, and\n" <>
                 "# `mix snakebridge.setup --check` fails when the venv does not match it.\n"

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
        remove_venv()

      not force and File.read(stamp_path()) == {:ok, wanted} ->
        :noop

      true ->
        install!(declared, info, wanted, lock)
        :ok
    end
  end

  defp remove_venv do
    if File.exists?(venv_dir()) do
      Mix.shell().info(
        "SnakeBridge: no Python packages declared any more; removing #{venv_dir()}"
      )

      File.rm_rf!(venv_dir())
      :ok
    else
      :noop
    end
  end

  defp install!({packages, requirements}, info, wanted, lock) do
    fresh_venv!(info, wanted)
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
    update_lock(info, lock)
  end

  # The venv, made afresh when the build Python changed or a package was dropped.
  defp fresh_venv!(info, wanted) do
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
  end

  defp update_lock(info, lock) do
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
      {"pip " <> rest, 0} -> pip_22_3?(rest)
      _ -> false
    end
  rescue
    _ -> false
  end

  defp pip_22_3?(version) do
    case Integer.parse(version) do
      {major, "." <> more} -> major > 22 or (major == 22 and elem(Integer.parse(more), 0) >= 3)
      _ -> false
    end
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

  defp removed?({:ok, old}, new), do: req_names(old) -- req_names(new) != []
  defp removed?(_, _), do: false

  # The requirement names in a packages stamp (after its 3 lines of interpreter stamp).
  defp req_names(text) do
    text
    |> String.split("\n")
    |> Enum.drop(3)
    |> Enum.reject(&(&1 in ["", "--"] or String.starts_with?(&1, ["#", "-"])))
    |> Enum.map(&req_name/1)
  end

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
    env =
      for {k, v} <- clean_env(),
          do: {String.to_charlist(k), (v && String.to_charlist(v)) || false}

    port =
      Port.open({:spawn_executable, exe}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        args: args,
        env: env
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

  # Said once: `mix snakebridge.setup` compiles the library first, which may write the
  # same lock just before.
  def write_lock!(info) do
    text = @lock_header <> Enum.map_join(freeze(info), &(&1 <> "\n"))

    if File.read(lock_path()) != {:ok, text} do
      File.write!(lock_path(), text)
      Mix.shell().info("SnakeBridge: wrote #{lock_path()}")
    end
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
        check_lock(info)
    end
  end

  defp check_lock(info) do
    with {:ok, locked} <- read_lock(),
         installed = freeze(info),
         false <- installed == locked do
      "the venv does not match #{lock_path()} (locked but not installed: " <>
        "#{inspect(locked -- installed)}; installed but not locked: #{inspect(installed -- locked)})"
    else
      :error -> "there is no #{lock_path()} (run mix snakebridge.setup)"
      true -> nil
    end
  end
end
