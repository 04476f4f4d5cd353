defmodule SnakeBridge.DependencyAppTest do
  # A fresh Mix app that depends on :snakebridge by path must build the NIF and call
  # Python with plain `mix compile` / `mix run`, nothing else set.
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  @root Path.expand("..", __DIR__)
  # What a checkout holds. The test works on this copy: it touches a Rust source, which
  # must not happen to the library other tests are using.
  @copied ~w(mix.exs Cargo.toml Cargo.lock lib native priv rust_tests)

  # Everything a `mix test` run exports that would leak into the child Mix project.
  @env [
    {"MIX_ENV", "dev"},
    {"MIX_BUILD_PATH", nil},
    {"MIX_BUILD_ROOT", nil},
    {"MIX_DEPS_PATH", nil},
    {"MIX_LOCKFILE", nil},
    {"MIX_EXS", nil},
    {"MIX_TARGET", nil},
    {"SNAKEBRIDGE_PYTHON", nil},
    # This test is about cargo building the NIF in the app: no NIF from the machine's cache.
    {"SNAKEBRIDGE_NIF_CACHE", "false"},
    {"PYTHONPATH", nil},
    {"PYTHONHOME", nil}
  ]

  @tag timeout: 300_000
  test "a throwaway app with {:snakebridge, path: ...} compiles and calls Python" do
    snakebridge = Path.join(tmp_dir!("sb_dep_lib"), "snakebridge")
    File.mkdir_p!(snakebridge)
    # cp -a keeps modification times: the copied NIF is not older than its sources.
    {out, 0} =
      System.cmd("cp", ["-a" | Enum.map(@copied, &Path.join(@root, &1))] ++ [snakebridge],
        stderr_to_stdout: true
      )

    assert out == ""

    dir = tmp_dir!("sb_dep_app")
    File.mkdir_p!(Path.join(dir, "lib"))
    # The app builds the crate into its own _build/snakebridge_target: seeded with this
    # checkout's cargo cache, so only our crates compile.
    cargo_dir = Path.join(dir, "_build/snakebridge_target")
    File.mkdir_p!(cargo_dir)
    {_, 0} = System.cmd("cp", ["-a", Path.join(@root, "target/release"), cargo_dir])

    File.write!(Path.join(dir, "mix.exs"), """
    defmodule SbDepApp.MixProject do
      use Mix.Project

      def project do
        [app: :sb_dep_app, version: "0.1.0", elixir: "~> 1.14", deps: deps()]
      end

      def application, do: [extra_applications: [:logger]]

      defp deps, do: [{:snakebridge, path: #{inspect(snakebridge)}}]
    end
    """)

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
