defmodule SnakeBridge.Science do
  @moduledoc false
  # numpy, pandas and scikit-learn for the tests, in a venv of the embedded interpreter
  # made once and kept under _build/science_venv/<python version>-<hash of the package
  # list> (the base Python has none of them). Its site-packages goes first on the
  # embedded Python's sys.path. `missing/0` is what a test module tags its science tests
  # with: nil, or why they are skipped.
  #
  # SNAKEBRIDGE_SCIENCE_PACKAGES overrides the pip requirements; SNAKEBRIDGE_SCIENCE=skip
  # skips instead of installing (.ci/python_versions: the other Pythons).

  @root Path.expand("../..", __DIR__)
  @key {__MODULE__, :status}

  @doc "nil when numpy, pandas and scikit-learn import in the embedded Python, else why not."
  @spec missing() :: String.t() | nil
  def missing do
    case ready() do
      :ok -> nil
      {:error, why} -> "numpy/pandas/scikit-learn unavailable, science tests skipped: " <> why
    end
  end

  @doc "`:ok` once they import, else `{:error, why}` (decided once per VM)."
  @spec ready() :: :ok | {:error, String.t()}
  def ready do
    case :persistent_term.get(@key, nil) do
      nil -> :global.trans({@key, self()}, &decide/0, [node()], :infinity)
      status -> status
    end
  end

  defp decide do
    case :persistent_term.get(@key, nil) do
      nil ->
        status =
          cond do
            importable?() ->
              :ok

            System.get_env("SNAKEBRIDGE_SCIENCE") == "skip" ->
              {:error, "SNAKEBRIDGE_SCIENCE=skip"}

            true ->
              install_and_add()
          end

        :persistent_term.put(@key, status)
        status

      status ->
        status
    end
  end

  defp importable? do
    match?(
      {:ok, true},
      SnakeBridge.eval("__import__('numpy') is not None and __import__('pandas') is not None")
    )
  end

  defp install_and_add do
    %{"version" => version, "python" => python} =
      SnakeBridge.eval!(
        "{'version': '%d.%d' % sys.version_info[:2], " <>
          "'python': sys.base_prefix + '/bin/python%d.%d' % sys.version_info[:2]}",
        %{"sys" => SnakeBridge.call!("importlib", "import_module", ["sys"])}
      )

    packages = packages()
    key = :erlang.phash2(packages) |> Integer.to_string(16)
    dir = Path.join([@root, "_build", "science_venv", "#{version}-#{key}"])
    site = Path.join([dir, "lib", "python#{version}", "site-packages"])

    with :ok <-
           if(File.exists?(Path.join(dir, "ready")), do: :ok, else: create(python, dir, packages)),
         {:ok, _} <- SnakeBridge.call("sys", "path.insert", [0, site]),
         {:ok, _} <- SnakeBridge.call("importlib", "invalidate_caches", []) do
      if importable?(),
        do: :ok,
        else: {:error, "the venv #{dir} was made but its packages do not import"}
    end
  end

  # Made in a directory of its own, renamed when complete: a VM stopped half-way leaves
  # no venv that looks ready.
  defp packages do
    "SNAKEBRIDGE_SCIENCE_PACKAGES"
    |> System.get_env("numpy pandas scikit-learn")
    |> String.split(" ", trim: true)
  end

  defp create(python, dir, packages) do
    work = "#{dir}.tmp#{System.unique_integer([:positive])}"
    File.mkdir_p!(Path.dirname(dir))
    IO.puts(:stderr, "[science] making #{dir} with #{Enum.join(packages, ", ")} (pip, once)")

    pip = ["-m", "pip", "install", "--disable-pip-version-check", "-q"] ++ packages

    result =
      with {:ok, _} <- run(python, ["-m", "venv", work]),
           {:ok, _} <- run(Path.join([work, "bin", "python"]), pip) do
        File.write!(Path.join(work, "ready"), Enum.join(packages, "\n"))
        File.rm_rf!(dir)
        File.rename!(work, dir)
        :ok
      end

    File.rm_rf(work)
    result
  end

  defp run(exe, args) do
    case System.cmd(exe, args, stderr_to_stdout: true, env: [{"PYTHONPATH", nil}]) do
      {out, 0} ->
        {:ok, out}

      {out, status} ->
        {:error,
         "#{Path.basename(exe)} #{hd(args)} ... exited #{status}: #{String.slice(out, -400, 400)}"}
    end
  rescue
    e in ErlangError -> {:error, "#{exe} cannot run: #{inspect(e.original)}"}
  end
end
