defmodule SnakeBridge.PythonPathsAndProcessesTest do
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers

  alias SnakeBridge.{PythonError, Ref}

  @lib "sb_foundation"

  defp make_tmp_dir(_context), do: %{tmp_dir: tmp_dir!()}

  # Runs `script` in a separate BEAM that has SnakeBridge on its code path (no Mix).
  defp run_elixir(script, env) do
    ebin = SnakeBridge |> :code.which() |> to_string() |> Path.dirname()
    System.cmd("elixir", ["-pa", ebin, "-e", script], env: env, stderr_to_stdout: true)
  end

  @clean_env [{"SNAKEBRIDGE_PYTHON", nil}, {"PYTHONPATH", nil}, {"PYTHONHOME", nil}]

  describe "subprocess" do
    test "subprocess.run works from the embedded Python" do
      assert {:ok, %Ref{type_name: "CompletedProcess"} = done} =
               SnakeBridge.call("subprocess", "run", [["echo", "hi"]], capture_output: true)

      assert Ref.getattr(done, "returncode") == {:ok, 0}
      assert Ref.getattr(done, "stdout") == {:ok, "hi\n"}
      assert Ref.getattr(done, "stderr") == {:ok, ""}
    end

    test "exit statuses and repeated runs are reported correctly" do
      for code <- [0, 3, 0, 7] do
        assert {:ok, done} = SnakeBridge.call("subprocess", "run", [["sh", "-c", "exit #{code}"]])

        assert Ref.getattr(done, "returncode") == {:ok, code}
      end

      assert SnakeBridge.call("subprocess", "check_output", [["printf", "a b"]], text: true) ==
               {:ok, "a b"}

      assert {:error, %PythonError{type: "subprocess.CalledProcessError"}} =
               SnakeBridge.call("subprocess", "check_call", [["false"]])
    end
  end

  describe "signals" do
    test "Python installed no signal handlers" do
      kind = SnakeBridge.call!(@lib, "sigint_handler_kind", [])
      refute kind == "default_int_handler"
      # SIGINT keeps the BEAM's own C handler (Python reports it as None), or SIG_DFL.
      assert kind in ["not_from_python", "SIG_DFL"]
    end
  end

  describe "PYTHONPATH and config :snakebridge, python_path" do
    setup :make_tmp_dir

    test "PYTHONPATH is honoured", %{tmp_dir: dir} do
      File.write!(Path.join(dir, "sb_pp_mod.py"), "def value():\n    return 'from PYTHONPATH'\n")

      script = """
      {:ok, _} = Application.ensure_all_started(:snakebridge)
      IO.inspect(SnakeBridge.call("sb_pp_mod", "value", []), label: "result")
      """

      {out, status} = run_elixir(script, @clean_env ++ [{"PYTHONPATH", dir}])
      assert status == 0, out
      assert out =~ ~s(result: {:ok, "from PYTHONPATH"})
    end

    test "the python_path app env is put on sys.path", %{tmp_dir: dir} do
      mod_dir = Path.join(dir, "pymods")
      File.mkdir_p!(mod_dir)
      File.write!(Path.join(mod_dir, "sb_cfg_mod.py"), "def value():\n    return 'from config'\n")

      script = """
      :ok = Application.load(:snakebridge)
      Application.put_env(:snakebridge, :python_path, [#{inspect(mod_dir)}])
      {:ok, _} = Application.ensure_all_started(:snakebridge)
      IO.inspect(SnakeBridge.call("sb_cfg_mod", "value", []), label: "result")
      {:ok, path} = SnakeBridge.call("sys", "path.copy", [])
      IO.inspect(Enum.find_index(path, &(&1 == #{inspect(mod_dir)})), label: "index")
      IO.inspect(:code.priv_dir(:snakebridge) |> is_list(), label: "priv")
      """

      {out, status} = run_elixir(script, @clean_env)
      assert status == 0, out
      assert out =~ ~s(result: {:ok, "from config"})
      assert out =~ "priv: true"
      refute out =~ "index: nil"

      # the module is not visible without the setting
      {out, 0} =
        run_elixir(
          """
          {:ok, _} = Application.ensure_all_started(:snakebridge)
          {:error, e} = SnakeBridge.call("sb_cfg_mod", "value", [])
          IO.puts(e.type)
          """,
          @clean_env
        )

      assert out =~ "ModuleNotFoundError"
    end
  end

  describe "virtualenv" do
    setup :make_tmp_dir
    @tag timeout: 120_000
    test "SNAKEBRIDGE_PYTHON=<venv>/bin/python imports the venv's packages", %{tmp_dir: dir} do
      base_python = SnakeBridge.Native.build_python()
      assert File.exists?(base_python)
      venv = Path.join(dir, "venv")

      {out, status} =
        System.cmd(base_python, ["-m", "venv", venv], stderr_to_stdout: true, env: @clean_env)

      assert status == 0, out
      venv_python = Path.join([venv, "bin", "python"])
      assert File.exists?(venv_python)

      # A tiny package, installed with pip, offline. The venv has no `wheel` package to
      # build one from source, so the test writes the wheel itself.
      pkg = "sbvenvpkg_#{System.unique_integer([:positive])}"

      wheel =
        SnakeBridge.call!(@lib, "write_wheel", [
          dir,
          pkg,
          "0.1.0",
          "import sys\n\ndef hello(name):\n    return 'hello ' + name + ' from ' + sys.prefix\n"
        ])

      {out, status} =
        System.cmd(
          venv_python,
          ["-m", "pip", "install", "--no-index", "--no-deps", wheel],
          stderr_to_stdout: true,
          env: @clean_env ++ [{"PIP_DISABLE_PIP_VERSION_CHECK", "1"}]
        )

      assert status == 0, out
      assert out =~ "Successfully installed"

      # Not visible to this node's Python (the base interpreter)...
      assert {:error, %PythonError{type: "ModuleNotFoundError"}} =
               SnakeBridge.call(pkg, "hello", ["x"])

      # ...but to a node started with the venv's python.
      script = """
      {:ok, _} = Application.ensure_all_started(:snakebridge)
      IO.inspect(SnakeBridge.call(#{inspect(pkg)}, "hello", ["venv"]), label: "result")
      IO.inspect(SnakeBridge.call("sys", "prefix.__str__", []), label: "prefix")
      """

      {out, status} = run_elixir(script, @clean_env ++ [{"SNAKEBRIDGE_PYTHON", venv_python}])
      assert status == 0, out
      assert out =~ ~s(result: {:ok, "hello venv from #{venv}"})
      assert out =~ ~s(prefix: {:ok, "#{venv}"})
    end
  end
end
