defmodule SnakeBridge.PythonPackagesTest do
  # An app declares Python packages in its config: `mix snakebridge.setup` makes the venv
  # under _build and writes snakebridge.lock, `mix compile` follows changes, the runtime
  # uses the venv with nothing else set. Offline: the packages are wheels this test writes,
  # found through PIP_FIND_LINKS with PIP_NO_INDEX.
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  alias SnakeBridge.TestApps

  @moduletag :integration

  @env TestApps.env([{"PIP_NO_INDEX", "1"}])

  defp mix(dir, args, env \\ []), do: TestApps.mix(dir, args, @env ++ env)

  defp config!(dir, body),
    do: File.write!(Path.join([dir, "config", "config.exs"]), "import Config\n" <> body)

  @tag timeout: 600_000
  test "declared packages: setup, lock, --check, changes, failures, the runtime's venv" do
    dir = tmp_dir!("sb_pkg_app")
    wheels = tmp_dir!("sb_pkg_wheels")

    for {name, version} <- [
          {"sbpkg_alpha", "0.1.0"},
          {"sbpkg_alpha", "0.2.0"},
          {"sbpkg_beta", "1.0.0"}
        ] do
      SnakeBridge.call!("sb_foundation", "write_wheel", [
        wheels,
        name,
        version,
        "import sys\n\ndef where():\n    return '#{name} #{version} in ' + sys.prefix\n"
      ])
    end

    # The library by its own path (its sources are not changed here) and cargo's cache
    # seeded from this checkout: the app's NIF build is a copy.
    TestApps.new!(dir, :sb_pkg_app)

    File.write!(Path.join([dir, "lib", "sb_pkg_app.ex"]), "defmodule SbPkgApp do\nend\n")
    config!(dir, ~s|config :snakebridge, python_packages: ["sbpkg_alpha==0.1.0"]\n|)
    pip = [{"PIP_FIND_LINKS", wheels}]

    {out, status, _} = mix(dir, ["compile"], pip)
    assert status == 0, out

    # setup, from no venv (the compile above made one: start afresh, and time it).
    venv = Path.join([dir, "_build", "dev", "lib", "snakebridge", "priv", "venv"])
    File.rm_rf!(venv)
    File.rm!(Path.join(dir, "snakebridge.lock"))
    {out, status, ms} = mix(dir, ["snakebridge.setup"], pip)
    assert status == 0, out
    IO.puts("\n[measure] mix snakebridge.setup (venv + one local wheel): #{ms} ms")
    # pip's own output is shown.
    assert out =~ "Successfully installed sbpkg_alpha-0.1.0", out
    # Said once, though the compile before the task wrote the lock too.
    assert length(Regex.scan(~r/wrote .*snakebridge\.lock/, out)) == 1, out
    assert File.exists?(Path.join(venv, "bin/python"))
    lock = Path.join(dir, "snakebridge.lock")
    assert File.read!(lock) =~ "\nsbpkg_alpha==0.1.0\n"

    # The runtime uses the venv with nothing else set.
    run = ["run", "-e", ~s|IO.puts(SnakeBridge.call!("sbpkg_alpha", "where", []))|]
    {out, status, _} = mix(dir, run)
    assert status == 0, out
    assert out =~ "sbpkg_alpha 0.1.0 in #{venv}\n", out

    # Nothing changed: compile does nothing, fast.
    {out, status, ms} = mix(dir, ["compile"], pip)
    assert status == 0, out
    refute out =~ "pip", out
    IO.puts("[measure] mix compile, nothing changed: #{ms} ms")

    {out, status, _} = mix(dir, ["snakebridge.setup", "--check"])
    assert status == 0, out
    assert out =~ "matches snakebridge.lock"

    {out, status, _} = mix(dir, ["snakebridge.info"])
    assert status == 0, out
    assert out =~ "venv:        #{venv}", out
    assert out =~ "  sbpkg_alpha==0.1.0\n", out
    assert out =~ "built against: #{SnakeBridge.Native.build_python()}", out
    assert out =~ "dirty I/O:", out

    # A lock the venv does not match.
    good_lock = File.read!(lock)
    File.write!(lock, String.replace(good_lock, "sbpkg_alpha==0.1.0", "sbpkg_alpha==0.2.0"))
    {out, status, _} = mix(dir, ["snakebridge.setup", "--check"])
    assert status != 0
    assert out =~ "the venv does not match #{lock}", out
    assert out =~ ~s|locked but not installed: ["sbpkg_alpha==0.2.0"]|, out
    File.write!(lock, good_lock)

    # A changed list (here a requirements file too): plain compile installs it.
    File.write!(Path.join(dir, "requirements.txt"), "sbpkg_beta==1.0.0\n")

    config!(
      dir,
      ~s|config :snakebridge, python_packages: ["sbpkg_alpha==0.1.0"], requirements: "requirements.txt"\n|
    )

    # The lock changes only by setup: compile says it is out of date, --check fails
    # (the committed lock is what another machine checks against), setup updates it.
    {out, status, _} = mix(dir, ["compile"], pip)
    assert status == 0, out
    assert out =~ "Successfully installed sbpkg_beta-1.0.0", out
    assert out =~ "the venv no longer matches #{lock}: run mix snakebridge.setup", out
    refute File.read!(lock) =~ "sbpkg_beta"
    {out, status, _} = mix(dir, ["snakebridge.setup", "--check"])
    assert status != 0
    assert out =~ ~s|installed but not locked: ["sbpkg_beta==1.0.0"]|, out
    {out, 0, _} = mix(dir, ["snakebridge.setup"], pip)
    assert out =~ "already holds the declared packages", out
    assert File.read!(lock) =~ "\nsbpkg_beta==1.0.0\n"
    {out, 0, _} = mix(dir, ["snakebridge.setup", "--check"])
    assert out =~ "matches"

    # A package dropped from the list leaves the venv (made afresh).
    config!(dir, ~s|config :snakebridge, python_packages: ["sbpkg_alpha==0.1.0"]\n|)
    {out, status, _} = mix(dir, ["compile"], pip)
    assert status == 0, out
    assert out =~ "making the venv afresh", out
    {out, 0, _} = mix(dir, ["snakebridge.setup"], pip)
    refute File.read!(lock) =~ "sbpkg_beta", out

    # A version changed in the config wins over the lock, both ways.
    for version <- ["0.2.0", "0.1.0"] do
      config!(dir, ~s|config :snakebridge, python_packages: ["sbpkg_alpha==#{version}"]\n|)
      {out, status, _} = mix(dir, ["snakebridge.setup"], pip)
      assert status == 0, out
      assert out =~ "Successfully installed sbpkg_alpha-#{version}", out
      refute out =~ "afresh", out
      assert File.read!(lock) =~ "\nsbpkg_alpha==#{version}\n"
    end

    # A package pip cannot install: named, with pip's error.
    config!(
      dir,
      ~s|config :snakebridge, python_packages: ["sbpkg_alpha==0.1.0", "sbpkg_missing==9.9"]\n|
    )

    {out, status, _} = mix(dir, ["compile"], pip)
    assert status != 0

    assert out =~
             "SnakeBridge could not install the Python package(s) sbpkg_missing==9.9: pip said: ERROR:",
           out

    assert out =~ "No matching distribution found for sbpkg_missing==9.9", out

    # A release holds the NIF, the app's priv/python and the venv: moved to another
    # directory, with the build removed and no environment variables, it starts.
    config!(dir, ~s|config :snakebridge, python_packages: ["sbpkg_alpha==0.1.0"]\n|)
    File.mkdir_p!(Path.join([dir, "priv", "python"]))

    File.write!(
      Path.join([dir, "priv", "python", "sb_app_mod.py"]),
      "def hello():\n    return 'app module'\n"
    )

    {out, status, ms} = mix(dir, ["release", "--overwrite"], [{"MIX_ENV", "prod"} | pip])
    assert status == 0, out
    IO.puts("[measure] MIX_ENV=prod mix release (NIF copied, venv installed): #{ms} ms")

    moved = Path.join(tmp_dir!("sb_pkg_release"), "sb_pkg_app")
    {_, 0} = System.cmd("cp", ["-a", Path.join(dir, "_build/prod/rel/sb_pkg_app"), moved])
    File.rm_rf!(Path.join(dir, "_build"))

    script = """
    {:ok, _} = Application.ensure_all_started(:sb_pkg_app)
    IO.puts(SnakeBridge.call!("sbpkg_alpha", "where", []))
    IO.puts(SnakeBridge.call!("sb_app_mod", "hello", []))
    """

    {out, status} =
      System.cmd(
        "env",
        ["-i", "PATH=/usr/bin:/bin", Path.join(moved, "bin/sb_pkg_app"), "eval", script],
        cd: "/",
        stderr_to_stdout: true
      )

    assert status == 0, out
    assert out =~ "sbpkg_alpha 0.1.0 in #{moved}/lib/snakebridge-0.1.0/priv/venv\n", out
    assert out =~ "app module\n", out
  end
end
