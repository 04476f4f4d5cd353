defmodule SnakeBridge.PythonInterpreterChoiceTest do
  # Choosing the interpreter at run time: any venv of the build interpreter, no rebuild;
  # a wrong choice stops the application from starting, with one sentence.
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  @clean_env [{"SNAKEBRIDGE_PYTHON", nil}, {"PYTHONPATH", nil}, {"PYTHONHOME", nil}]

  # Runs `script` in a separate BEAM that has SnakeBridge on its code path (no Mix).
  defp run_elixir(script, env) do
    ebin = SnakeBridge |> :code.which() |> to_string() |> Path.dirname()

    System.cmd("elixir", ["-pa", ebin, "-e", script],
      env: @clean_env ++ env,
      stderr_to_stdout: true
    )
  end

  @start """
  case Application.ensure_all_started(:snakebridge) do
    {:ok, _} ->
      IO.inspect(SnakeBridge.call("sys", "prefix.__str__", []), label: "prefix")

    {:error, {:snakebridge, {message, {SnakeBridge.Application, :start, _}}}} ->
      IO.puts("failed: " <> message)

    other ->
      IO.inspect(other, label: "other")
  end
  """

  defp venv!(dir) do
    venv = Path.join(dir, "venv")
    python = SnakeBridge.Native.build_python()
    {out, 0} = System.cmd(python, ["-m", "venv", "--without-pip", venv], stderr_to_stdout: true)
    assert out == ""
    venv
  end

  test "a venv of the build interpreter starts, chosen by SNAKEBRIDGE_PYTHON or config :python" do
    dir = tmp_dir!("sb_envs")
    venv = venv!(dir)

    {out, 0} = run_elixir(@start, [{"SNAKEBRIDGE_PYTHON", Path.join(venv, "bin/python")}])
    assert out =~ ~s(prefix: {:ok, "#{venv}"}), out

    script = """
    :ok = Application.load(:snakebridge)
    Application.put_env(:snakebridge, :python, #{inspect(Path.join(venv, "bin/python3"))})
    #{@start}
    """

    {out, 0} = run_elixir(script, [])
    assert out =~ ~s(prefix: {:ok, "#{venv}"}), out

    # A name on PATH (here python3, maybe a pyenv shim): Python starts as what it runs.
    base_prefix = SnakeBridge.eval!("__import__('sys').base_prefix")

    python3_prefix =
      System.find_executable("python3") &&
        System.cmd("python3", ["-c", "import sys; print(sys.prefix, end='')"])

    if python3_prefix == {base_prefix, 0} do
      {out, 0} = run_elixir(@start, [{"SNAKEBRIDGE_PYTHON", "python3"}])
      assert out =~ ~s(prefix: {:ok, "#{base_prefix}"}), out
    end

    # SNAKEBRIDGE_PYTHON wins over the config.
    {out, 0} = run_elixir(script, [{"SNAKEBRIDGE_PYTHON", "/nonexistent/bin/python"}])

    assert out =~
             "failed: SnakeBridge cannot start Python: SNAKEBRIDGE_PYTHON /nonexistent/bin/python does not exist.",
           out
  end

  test "a build whose Python is not on this machine (a release copied elsewhere) says so" do
    dir = tmp_dir!("sb_moved_build")
    built = SnakeBridge |> :code.which() |> to_string() |> Path.dirname() |> Path.dirname()
    copy = Path.join(dir, "snakebridge")
    {_, 0} = System.cmd("cp", ["-a", built, copy])
    stamp = Path.join(copy, "priv/native/libsnakebridge_nif.so.python")
    File.write!(stamp, "/nonexistent/pyenv/bin/python3.11\n3.11.7\n")

    {out, 0} =
      System.cmd("elixir", ["-pa", Path.join(copy, "ebin"), "-e", @start],
        env: @clean_env,
        stderr_to_stdout: true
      )

    assert out =~
             "failed: SnakeBridge cannot start Python: the Python its NIF was built against, " <>
               "/nonexistent/pyenv/bin/python3.11, is not on this machine (a release needs the " <>
               "same Python at the same path).",
           out
  end

  test "a wrong interpreter stops the start with one sentence naming the path" do
    dir = tmp_dir!("sb_bad_python")
    script = Path.join(dir, "not_python")
    File.write!(script, "#!/bin/sh\necho hello\n")
    File.chmod!(script, 0o755)
    text = Path.join(dir, "notes.txt")
    File.write!(text, "not a program\n")

    other =
      Enum.find(
        Path.wildcard(Path.expand("~/.pyenv/versions/3.1[02]*/bin/python3")) ++
          ["/usr/bin/python3.12", "/usr/bin/python3.10"],
        &File.exists?/1
      )

    cases =
      [
        {"/nonexistent/python3", "SNAKEBRIDGE_PYTHON /nonexistent/python3 does not exist."},
        {dir,
         "SNAKEBRIDGE_PYTHON #{dir} is a directory, not a Python executable (name its bin/python)."},
        {script,
         "SNAKEBRIDGE_PYTHON #{script} is not a Python interpreter (it printed \"hello\\n\")."},
        {text,
         "SNAKEBRIDGE_PYTHON #{text} is not a Python interpreter (it cannot be run: permission denied)."},
        {"no-such-python-here", "SNAKEBRIDGE_PYTHON no-such-python-here is not on PATH."}
      ] ++
        if(other,
          do: [
            {other,
             ~r/SNAKEBRIDGE_PYTHON #{other} is Python 3\.1\d\.\d+, but SnakeBridge's NIF was built against Python 3\.11/}
          ],
          else: []
        )

    cases
    |> Task.async_stream(
      fn {python, _} -> run_elixir(@start, [{"SNAKEBRIDGE_PYTHON", python}]) end,
      timeout: 60_000,
      max_concurrency: 3
    )
    |> Enum.zip(cases)
    |> Enum.each(fn {{:ok, {out, 0}}, {_, expected}} ->
      [line] =
        out |> String.split("\n", trim: true) |> Enum.filter(&String.starts_with?(&1, "failed:"))

      assert line =~ "failed: SnakeBridge cannot start Python: "

      if is_binary(expected),
        do: assert(String.ends_with?(line, expected), line),
        else: assert(line =~ expected)
    end)

    if other == nil, do: IO.puts("(no other Python version found: its case was not checked)")
  end
end
