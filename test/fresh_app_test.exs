defmodule SnakeBridge.FreshAppTest do
  # A new user's first hour, in throwaway apps that depend on a copy of the library by
  # path, each from an empty _build: the first `mix compile` with a generated wrapper and
  # a module in the app's priv/python, config read at run time, a call before the app
  # started, the first `mix release` and `bin/app eval`, and a second app that reuses the
  # NIF the first one built (one build per machine).
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  alias SnakeBridge.TestApps

  # What else would leak into the child projects and releases.
  @clean TestApps.env([
           {"SNAKEBRIDGE_NIF_CACHE", nil},
           {"RELEASE_NODE", nil},
           {"RELEASE_DISTRIBUTION", nil}
         ])

  @tag timeout: 900_000
  test "first compile, runtime config, first release and a second app reusing the NIF" do
    library = TestApps.copy_library!(tmp_dir!("sb_fresh_lib"))

    # A cache of NIFs for these apps alone (the machine's may hold this very build).
    env = [{"SNAKEBRIDGE_CACHE_DIR", tmp_dir!("sb_fresh_cache")} | @clean]
    prod = env ++ [{"MIX_ENV", "prod"}]
    dev = env ++ [{"MIX_ENV", "dev"}]

    app = new_app!("sb_fresh_a", library)
    # cargo's cache of the dependencies' builds, so only SnakeBridge's crates compile.
    TestApps.seed_cargo!(app)

    # 1. The first compile of an empty _build, with a wrapper: passes, builds the NIF.
    {out, 0, ms} = mix(app, ["compile"], prod)
    assert out =~ "Compiling SnakeBridge NIF", out
    assert out =~ "Generated sb_fresh_a app", out
    IO.puts("[measure] first app, first MIX_ENV=prod mix compile (cargo, our crates): #{ms} ms")

    {out, 0, _} = mix(app, ["run", "-e", "IO.inspect(SbFresh.check())"], prod)
    assert out =~ ~s|{{:ok, 2}, {:ok, 42}, "sb_fresh_mod"}|, out

    # 2. A call before the application started raises at once, saying what to do.
    {out, status, _} =
      mix(app, ["run", "--no-start", "-e", ~s|SnakeBridge.call("math", "sqrt", [4.0])|], prod)

    assert status != 0
    assert out =~ "Application.ensure_all_started(:snakebridge)", out

    # 3. Config read at run time (config/runtime.exs) changes: nothing recompiles.
    write_runtime_config!(app, thread_idle_ms: 7_000, callback_timeout: 9_000)
    {out, 0, _} = mix(app, ["compile"], prod)
    refute out =~ "Compiling", out
    refute out =~ "Generated", out

    {out, 0, _} =
      mix(
        app,
        ["run", "-e", "IO.inspect(Application.get_env(:snakebridge, :callback_timeout))"],
        prod
      )

    assert out =~ "9000", out

    # 4. The first release, and `bin/app eval` (the app is not started there).
    {out, 0, ms} = mix(app, ["release", "--overwrite"], prod)
    IO.puts("[measure] first MIX_ENV=prod mix release: #{ms} ms")
    bin = Path.join([app, "_build", "prod", "rel", "sb_fresh_a", "bin", "sb_fresh_a"])
    assert File.exists?(bin), out

    {out, 0} =
      System.cmd(
        bin,
        [
          "eval",
          "{:ok, _} = Application.ensure_all_started(:sb_fresh_a); IO.inspect(SbFresh.check())"
        ],
        env: env,
        stderr_to_stdout: true
      )

    assert out =~ ~s|{{:ok, 2}, {:ok, 42}, "sb_fresh_mod"}|, out

    {{out, status}, us} =
      timed(fn ->
        System.cmd(bin, ["eval", ~s|SnakeBridge.call("math", "sqrt", [4.0])|],
          env: env,
          stderr_to_stdout: true
        )
      end)

    assert status != 0
    assert out =~ "Application.ensure_all_started(:snakebridge)", out
    # The VM's own start is most of it; nothing waits for a reply that never comes.
    assert us < 60_000_000

    # 5. A second app on this machine: its own empty _build and no cargo cache at all,
    # yet no cargo build. (A cargo build here would compile every crate: minutes.)
    second = new_app!("sb_fresh_b", library)
    {out, 0, ms} = mix(second, ["compile"], dev)
    refute out =~ "Compiling SnakeBridge NIF", out
    assert out =~ "SnakeBridge NIF: reusing the build in", out
    refute File.exists?(Path.join(second, "_build/snakebridge_target"))
    IO.puts("[measure] second app, first mix compile (NIF from the cache): #{ms} ms")

    {out, 0, _} = mix(second, ["run", "-e", "IO.inspect(SbFresh.check())"], dev)

    assert out =~ ~s|{{:ok, 2}, {:ok, 42}, "sb_fresh_mod"}|, out
  end

  # An app with a generated wrapper (statistics), a module of its own in priv/python,
  # and config/runtime.exs.
  defp new_app!(name, library) do
    dir = Path.join(tmp_dir!(name), name)
    TestApps.new!(dir, String.to_atom(name), library: library, seed_cargo: false)
    File.mkdir_p!(Path.join([dir, "priv", "python"]))

    File.write!(Path.join([dir, "lib", "sb_fresh.ex"]), """
    defmodule SbFresh.Stats do
      use SnakeBridge.Library, python: "statistics"
    end

    defmodule SbFresh do
      def check do
        {:ok, stream} = SnakeBridge.call("sb_fresh_mod", "twice_each", [[21]])

        {SbFresh.Stats.mean([1, 2, 3]), {:ok, hd(Enum.to_list(stream))},
         stream.python_module}
      end
    end
    """)

    File.write!(Path.join([dir, "priv", "python", "sb_fresh_mod.py"]), """
    def twice_each(xs):
        for x in xs:
            yield 2 * x
    """)

    File.write!(Path.join([dir, "config", "config.exs"]), "import Config\n")
    write_runtime_config!(dir, thread_idle_ms: 5_000, callback_timeout: 4_000)
    dir
  end

  defp write_runtime_config!(dir, opts) do
    File.write!(Path.join([dir, "config", "runtime.exs"]), """
    import Config
    config :snakebridge, #{opts |> inspect() |> String.slice(1..-2//1)}
    """)
  end

  defp mix(dir, args, env), do: TestApps.mix(dir, args, env)

  defp timed(fun) do
    {us, result} = :timer.tc(fun)
    {result, us}
  end
end
