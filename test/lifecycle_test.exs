defmodule SnakeBridge.LifecycleTest do
  # What happens when :snakebridge stops (guides/shutdown.md): Python's atexit handlers
  # run and the child processes Python started are ended. Each case runs in a child VM,
  # since stopping the application is the point.
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers

  # Runs `script` in a separate BEAM that has SnakeBridge on its code path (no Mix).
  defp run_elixir(script) do
    ebin = SnakeBridge |> :code.which() |> to_string() |> Path.dirname()

    System.cmd("elixir", ["-pa", ebin, "-e", script],
      env: [{"SNAKEBRIDGE_PYTHON", nil}, {"PYTHONPATH", nil}],
      stderr_to_stdout: true
    )
  end

  # Starts the application (with a short atexit timeout: multiprocessing's own atexit
  # handler waits for its non-daemonic children), registers an atexit handler that
  # writes `marker`, and starts a `multiprocessing` child and a `subprocess.Popen`, both
  # sleeping for ten minutes; prints their pids.
  defp setup_script(marker) do
    """
    :ok = Application.load(:snakebridge)
    Application.put_env(:snakebridge, :shutdown_timeout, 1_000)
    {:ok, _} = Application.ensure_all_started(:snakebridge)

    SnakeBridge.eval!(~S'''
    import atexit

    def write_marker():
        with open(marker, "w") as f:
            f.write("atexit ran")

    atexit.register(write_marker)
    ''', %{marker: #{inspect(marker)}})

    %{"mp_pid" => mp_pid, "popen_pid" => popen_pid} =
      SnakeBridge.eval!(~S'''
    import multiprocessing, subprocess, time
    child = multiprocessing.Process(target=time.sleep, args=(600,))
    child.start()
    mp_pid = child.pid
    popen_pid = subprocess.Popen(["sleep", "600"]).pid
    ''')

    IO.puts("pids: \#{mp_pid} \#{popen_pid}")
    """
  end

  defp pids(out) do
    [_, mp, popen] = Regex.run(~r/pids: (\d+) (\d+)/, out)
    {String.to_integer(mp), String.to_integer(popen)}
  end

  # Gone, or a zombie (ended; its parent, the child VM, is gone too).
  defp ended?(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:error, _} -> true
      {:ok, stat} -> stat |> String.split(") ") |> List.last() |> String.starts_with?("Z")
    end
  end

  test "Application.stop/1 runs atexit handlers and ends Python's child processes" do
    marker = Path.join(tmp_dir!("sb_lifecycle"), "marker")

    {out, status} =
      run_elixir(
        setup_script(marker) <>
          """
          running? = fn pid -> File.exists?("/proc/\#{pid}") end
          IO.puts("before stop: marker \#{File.exists?(#{inspect(marker)})} mp \#{running?.(mp_pid)} popen \#{running?.(popen_pid)}")
          :ok = Application.stop(:snakebridge)
          # ended and reaped by the time stop returns
          IO.puts("after stop: marker \#{File.read!(#{inspect(marker)})} mp \#{running?.(mp_pid)} popen \#{running?.(popen_pid)}")
          """
      )

    assert status == 0, out
    assert out =~ "before stop: marker false mp true popen true"
    assert out =~ "after stop: marker atexit ran mp false popen false"
  end

  test "System.stop/0 (the node's shutdown) does the same" do
    marker = Path.join(tmp_dir!("sb_lifecycle"), "marker")

    {out, status} =
      run_elixir(
        setup_script(marker) <>
          """
          System.stop()
          Process.sleep(:infinity)
          """
      )

    assert status == 0, out
    assert File.read!(marker) == "atexit ran"
    {mp_pid, popen_pid} = pids(out)
    assert ended?(mp_pid), out
    assert ended?(popen_pid), out
  end

  test "handlers run once: a second stop after a restart does not run them again" do
    marker = Path.join(tmp_dir!("sb_lifecycle"), "count")

    {out, status} =
      run_elixir("""
      {:ok, _} = Application.ensure_all_started(:snakebridge)

      SnakeBridge.eval!(~S'''
      import atexit
      atexit.register(lambda: open(path, "a").write("x"))
      ''', %{path: #{inspect(marker)}})

      :ok = Application.stop(:snakebridge)
      {:ok, _} = Application.ensure_all_started(:snakebridge)
      # the same interpreter, still working
      IO.inspect(SnakeBridge.call("operator", "add", [1, 2]), label: "after restart")
      :ok = Application.stop(:snakebridge)
      """)

    assert status == 0, out
    assert out =~ "after restart: {:ok, 3}"
    assert File.read!(marker) == "x"
  end
end
