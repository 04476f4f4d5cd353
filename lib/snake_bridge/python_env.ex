defmodule SnakeBridge.PythonEnv do
  @moduledoc false
  # Which interpreter the embedded Python starts as, checked before it starts.
  #
  # In order: `SNAKEBRIDGE_PYTHON`, `config :snakebridge, python: path`, the venv of
  # `mix snakebridge.setup` (priv/venv of this build), else the interpreter the NIF was
  # built against. A chosen interpreter must be that interpreter or a venv of it (same
  # base interpreter and version, any path): otherwise the application does not start,
  # and says why in one sentence.

  # What an interpreter is asked, here and by the build (lib/mix/build/mix_python.exs).
  @probe_file Path.expand("python_probe.py", __DIR__)
  @external_resource @probe_file
  @probe File.read!(@probe_file)

  @doc "`{:ok, nil | path}` for `SnakeBridge.Native.init/2`, or `{:error, sentence}`."
  def executable do
    with :ok <- nif_present() do
      case choice() do
        nil -> {:ok, nil}
        {source, path} -> check(source, path)
      end
    end
  end

  # The NIF links the build machine's libpython by path: on a machine without that Python
  # (a release copied elsewhere) it cannot load, which is said here in one sentence.
  defp nif_present do
    {base, _} = stamp() || {nil, nil}

    cond do
      base && not File.exists?(base) ->
        fail(
          "the Python its NIF was built against, #{base}, is not on this machine " <>
            "(a release needs the same Python at the same path)"
        )

      not Code.ensure_loaded?(SnakeBridge.Native) ->
        fail(
          "its NIF (#{:code.priv_dir(:snakebridge)}/native) did not load: see the error logged above"
        )

      true ->
        :ok
    end
  end

  @doc "Where the interpreter comes from: `{source, path}`, or nil for the build one."
  def choice do
    env = System.get_env("SNAKEBRIDGE_PYTHON")
    config = Application.get_env(:snakebridge, :python)
    venv = venv_python()

    cond do
      env not in [nil, ""] -> {"SNAKEBRIDGE_PYTHON", env}
      config not in [nil, ""] -> {"config :snakebridge, python:", config}
      venv && File.exists?(venv) -> {"the venv of mix snakebridge.setup", venv}
      true -> nil
    end
  end

  @doc "The venv `mix snakebridge.setup` made for this build (may not exist)."
  def venv_python do
    case :code.priv_dir(:snakebridge) do
      {:error, _} -> nil
      priv -> Path.join([to_string(priv), "venv", "bin", "python"])
    end
  end

  @doc "The base interpreter and version the NIF was built against (`{base, version}`)."
  def build, do: stamp() || {SnakeBridge.Native.build_python(), nil}

  defp stamp do
    with priv when is_list(priv) <- :code.priv_dir(:snakebridge),
         {:ok, text} <- File.read(SnakeBridge.Native.nif_path() <> ".python"),
         [base, version] <- String.split(text, "\n", trim: true) do
      {base, version}
    else
      _ -> nil
    end
  end

  defp check(source, path) do
    exe = if String.contains?(path, "/"), do: Path.expand(path), else: find(path)
    named = "#{source} #{path}"

    cond do
      exe == nil ->
        fail("#{named} is not on PATH")

      File.dir?(exe) ->
        fail("#{named} is a directory, not a Python executable (name its bin/python)")

      not File.exists?(exe) ->
        fail("#{named} does not exist")

      venv_of_build?(exe) ->
        {:ok, exe}

      true ->
        probe(named, exe)
    end
  end

  # A venv's pyvenv.cfg names the Python it was made from: when that is the build
  # interpreter (its directory and version), the venv is accepted without running it
  # (Python costs 30-300 ms to start). Anything else is asked by running it.
  defp venv_of_build?(exe) do
    cfg = Path.join(exe |> Path.dirname() |> Path.dirname(), "pyvenv.cfg")

    with {base, version} when is_binary(version) <- build(),
         {:ok, text} <- File.read(cfg) do
      fields =
        for line <- String.split(text, "\n"),
            [key, value] <- [String.split(line, "=", parts: 2)],
            into: %{},
            do: {String.trim(key), String.trim(value)}

      fields["home"] == Path.dirname(base) and fields["version"] == version and
        File.exists?(base)
    else
      _ -> false
    end
  end

  defp find(name), do: System.find_executable(name)

  defp probe(named, exe) do
    {build_base, build_version} = build()

    case run(exe) do
      {:ok, [_shared, base, version, executable]} ->
        cond do
          build_version && minor(version) != minor(build_version) ->
            fail(
              "#{named} is Python #{version}, but SnakeBridge's NIF was built against " <>
                "Python #{build_version} (#{build_base}): use that interpreter or a venv of it, " <>
                "or rebuild with SNAKEBRIDGE_PYTHON=#{exe} mix compile"
            )

          build_version && base != build_base ->
            fail(
              "#{named} is based on #{base}, not on the Python SnakeBridge's NIF was built " <>
                "against (#{build_base}): use a venv of that interpreter, or rebuild with " <>
                "SNAKEBRIDGE_PYTHON=#{exe} mix compile"
            )

          # What the file runs as (a pyenv shim or a wrapper names the real binary).
          true ->
            {:ok, executable}
        end

      {:error, why} ->
        fail("#{named} is not a Python interpreter (#{why})")
    end
  end

  defp run(exe) do
    case System.cmd(exe, ["-c", @probe], stderr_to_stdout: true, env: [{"PYTHONHOME", nil}]) do
      {out, 0} ->
        case String.split(out, "\n", trim: true) do
          [_, _, _, _] = lines -> {:ok, lines}
          _ -> {:error, "it printed #{inspect(String.slice(out, 0, 80))}"}
        end

      {out, status} ->
        {:error,
         "running it failed with status #{status}: #{String.slice(String.trim(out), 0, 120)}"}
    end
  rescue
    e in ErlangError -> {:error, "it cannot be run: #{:file.format_error(e.original)}"}
  end

  defp minor(version), do: version |> String.split(".") |> Enum.take(2)

  defp fail(what), do: {:error, "SnakeBridge cannot start Python: " <> what <> "."}
end
