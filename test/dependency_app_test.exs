defmodule SnakeBridge.DependencyAppTest do
  # A fresh Mix app that depends on :snakebridge by path must build the NIF and call
  # Python with plain `mix compile` / `mix run`, nothing else set.
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  alias SnakeBridge.TestApps

  # The test changes a Rust source of its own copy of the library, which must not happen
  # to the library other tests are using.
  # This test is about cargo building the NIF in the app: no NIF from the machine's cache.
  @env TestApps.env([{"SNAKEBRIDGE_NIF_CACHE", "false"}])

  @tag timeout: 300_000
  test "a throwaway app with {:snakebridge, path: ...} compiles and calls Python" do
    snakebridge = TestApps.copy_library!(tmp_dir!("sb_dep_lib"))

    # The app builds the crate into its own _build/snakebridge_target: seeded with this
    # checkout's cargo cache, so only our crates compile.
    dir = TestApps.new!(tmp_dir!("sb_dep_app"), :sb_dep_app, library: snakebridge)
    cargo_dir = Path.join(dir, "_build/snakebridge_target")

    File.write!(Path.join([dir, "lib", "sb_dep_app.ex"]), """
    defmodule SbDepApp do
      def sqrt(x), do: SnakeBridge.call("math", "sqrt", [x])
    end
    """)

    {out, status} = System.cmd("mix", ["compile"], cd: dir, env: @env, stderr_to_stdout: true)
    assert status == 0, out

    # The NIF is built in the app's own directories, not in the library's checkout.
    priv = Path.join([dir, "_build", "dev", "lib", "snakebridge", "priv", "native"])
    assert File.exists?(Path.join(priv, "libsnakebridge_nif.so")), out
    assert out =~ "target: #{cargo_dir}", out
    refute File.exists?(Path.join([snakebridge, "priv", "native"]))
    refute File.exists?(Path.join(snakebridge, "target"))

    {out, status} =
      System.cmd(
        "mix",
        ["run", "-e", ~s|IO.inspect(SnakeBridge.call("math", "sqrt", [9.0]))|],
        cd: dir,
        env: @env,
        stderr_to_stdout: true
      )

    assert status == 0, out
    assert out =~ "{:ok, 3.0}"

    {out, status} =
      System.cmd("mix", ["run", "-e", "IO.inspect(SbDepApp.sqrt(16))"],
        cd: dir,
        env: @env,
        stderr_to_stdout: true
      )

    assert status == 0, out
    assert out =~ "{:ok, 4.0}"

    # Two venvs of the build interpreter: no rebuild, and each is the embedded Python.
    for name <- ["venv_a", "venv_b"] do
      venv = Path.join(dir, name)
      python = SnakeBridge.Native.build_python()
      {_, 0} = System.cmd(python, ["-m", "venv", "--without-pip", venv], stderr_to_stdout: true)

      env =
        List.keystore(
          @env,
          "SNAKEBRIDGE_PYTHON",
          0,
          {"SNAKEBRIDGE_PYTHON", venv <> "/bin/python"}
        )

      {out, status} = System.cmd("mix", ["compile"], cd: dir, env: env, stderr_to_stdout: true)
      assert status == 0, out
      refute out =~ "Compiling SnakeBridge NIF", out

      {out, 0} =
        System.cmd(
          "mix",
          ["run", "-e", ~s|IO.puts(SnakeBridge.call!("sys", "prefix.__str__", []))|],
          cd: dir,
          env: env,
          stderr_to_stdout: true
        )

      assert out =~ venv, out
    end

    # A bad interpreter at run time: the app does not start, and says why.
    {out, status} =
      System.cmd("mix", ["run", "--no-compile", "-e", "IO.puts(:started)"],
        cd: dir,
        env:
          List.keystore(
            @env,
            "SNAKEBRIDGE_PYTHON",
            0,
            {"SNAKEBRIDGE_PYTHON", "/nonexistent/python3"}
          ),
        stderr_to_stdout: true
      )

    assert status != 0
    refute out =~ "started"

    assert out =~
             "SnakeBridge cannot start Python: SNAKEBRIDGE_PYTHON /nonexistent/python3 does not exist.",
           out

    # No Python: one sentence, not a stack of errors.
    bad_python =
      List.keystore(@env, "SNAKEBRIDGE_PYTHON", 0, {"SNAKEBRIDGE_PYTHON", "/nonexistent/python3"})

    {out, status} =
      System.cmd("mix", ["compile"], cd: dir, env: bad_python, stderr_to_stdout: true)

    assert status != 0

    assert out =~
             "SnakeBridge could not run Python SNAKEBRIDGE_PYTHON /nonexistent/python3: it does not exist.",
           out

    # A change to a Rust source needs cargo; without it, one sentence again.
    File.touch!(Path.join(snakebridge, "native/snakebridge_nif/src/lib.rs"))
    python = SnakeBridge.Native.build_python()

    no_cargo =
      @env ++
        [
          {"SNAKEBRIDGE_PYTHON", python},
          {"PATH", "/usr/local/bin:/usr/bin:/bin"},
          {"HOME", Path.join(dir, "home")}
        ]

    {out, status} = System.cmd("mix", ["compile"], cd: dir, env: no_cargo, stderr_to_stdout: true)
    assert status != 0
    assert out =~ "SnakeBridge needs Rust's cargo", out

    # With cargo, the change rebuilds the NIF on the next plain `mix compile`.
    {out, status} = System.cmd("mix", ["compile"], cd: dir, env: @env, stderr_to_stdout: true)
    assert status == 0, out
    assert out =~ "Compiling SnakeBridge NIF", out
  end
end
