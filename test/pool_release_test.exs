defmodule SnakeBridge.PoolReleaseTest do
  # A throwaway app with a pool, built as a release (MIX_ENV=prod mix release) and
  # started as a daemon with a long node name: its workers start from the release's own
  # erl and boot files, with the release's cookie, and import the app's priv/python.
  # Its compile (a `use SnakeBridge.Library` starts :snakebridge there) and its release
  # start no worker and log nothing about the pool.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  alias SnakeBridge.TestApps

  @moduletag :integration
  @moduletag :pools

  @env TestApps.env([
         {"MIX_ENV", "prod"},
         {"ELIXIR_ERL_OPTIONS", nil},
         {"ERL_AFLAGS", nil},
         {"ERL_FLAGS", nil}
       ])

  @tag timeout: 900_000
  test "a release started as a daemon (RELEASE_DISTRIBUTION=name, then sname) runs its pool" do
    dir = tmp_dir!("sb_pool_app")
    File.mkdir_p!(Path.join(dir, "lib"))
    File.mkdir_p!(Path.join(dir, "config"))
    File.mkdir_p!(Path.join([dir, "priv", "python"]))

    # The library by its own path (its sources are not changed here) and cargo's cache
    # seeded from this checkout: the app's NIF build is a copy.
    TestApps.new!(dir, :sb_pool_app)

    # Compiling this starts :snakebridge (with its pool config) in the compiling VM, as
    # `use SnakeBridge.Library` does.
    File.write!(Path.join([dir, "lib", "sb_pool_app.ex"]), """
    defmodule SbPoolApp do
      {:ok, _} = Application.ensure_all_started(:snakebridge)
      @root SnakeBridge.call!("math", "sqrt", [4.0])
      def root, do: @root
    end
    """)

    File.write!(Path.join([dir, "config", "config.exs"]), """
    import Config
    config :snakebridge, pools: [work: [peers: 1]]
    """)

    File.write!(Path.join([dir, "priv", "python", "sb_pool_mod.py"]), """
    import os

    def where():
        return ('sb_pool_mod', os.getpid())
    """)

    {out, status} = mix(dir, ["release", "--overwrite"])
    assert status == 0, out
    refute out =~ "SnakeBridge pool", out
    refute out =~ "not distributed", out

    rel = Path.join(dir, "_build/prod/rel/sb_pool_app")
    bin = Path.join(rel, "bin/sb_pool_app")

    cookie = "sb_pool_release_#{System.unique_integer([:positive])}"

    # not this user's ~/.erlang.cookie: the workers must be given the release's
    base = [{"RELEASE_COOKIE", cookie} | @env]

    for {dist, node, host} <- [
          {"name", "sb_pool_app@127.0.0.1", ~r/@127\.0\.0\.1$/},
          {"sname", "sb_pool_app", ~r/@[^.]+$/}
        ] do
      # (a daemon's pipes and logs: a directory each, the first may still be stopping)
      tmp = tmp_dir!("sb_pool_rel_tmp")
      env = [{"RELEASE_DISTRIBUTION", dist}, {"RELEASE_NODE", node}, {"RELEASE_TMP", tmp} | base]
      {_, 0} = System.cmd(bin, ["daemon"], env: env, stderr_to_stdout: true)

      try do
        # A call the moment the app has started (no ready/2): it waits for the worker.
        assert started(bin, env) == :ok, daemon_log(tmp)

        script = """
        result = SnakeBridge.call("sb_pool_mod", "where", [], __runtime__: [pool_name: :work])
        IO.puts("RESULT " <> inspect({result, SnakeBridge.Pool.nodes(:work), System.pid()}))
        """

        {out, status} = rpc(bin, script, env)
        assert status == 0, out
        [_, result] = Regex.run(~r/RESULT (.*)\n/, out)
        {{:ok, {"sb_pool_mod", py_pid}}, [worker], os_pid} = Code.eval_string(result) |> elem(0)
        assert Atom.to_string(worker) =~ ~r/^sb_pool_app_work_0_\d+@/
        assert Atom.to_string(worker) =~ host
        assert py_pid != String.to_integer(os_pid)

        # The worker runs the release's own ERTS.
        script =
          ~s|IO.puts("ROOT " <> to_string(:erpc.call(hd(SnakeBridge.Pool.nodes(:work)), :code, :root_dir, [])))|

        {out, 0} = rpc(bin, script, env)
        assert out =~ "ROOT #{rel}\n", out
      after
        System.cmd(bin, ["stop"], env: env, stderr_to_stdout: true)
        # Both names register "sb_pool_app" with epmd: the next daemon starts once this
        # one is gone (`stop` returns before that).
        assert unregistered?(~c"sb_pool_app", 120)
      end
    end
  end

  defp mix(dir, args),
    do: System.cmd("mix", args, cd: dir, env: @env, stderr_to_stdout: true)

  # Polls the daemon (it tells nobody when it is up) until its applications are started.
  defp started(bin, env, tries \\ 240) do
    script = "IO.puts(List.keymember?(Application.started_applications(), :sb_pool_app, 0))"

    case rpc(bin, script, env) do
      {"true\n", 0} -> :ok
      {_, 0} when tries > 0 -> Process.sleep(250) && started(bin, env, tries - 1)
      {out, status} -> {status, out}
    end
  end

  defp unregistered?(name, tries) do
    case :net_adm.names() do
      {:ok, names} ->
        cond do
          not List.keymember?(names, name, 0) -> true
          tries > 0 -> Process.sleep(250) && unregistered?(name, tries - 1)
          true -> false
        end

      {:error, _} ->
        true
    end
  end

  # What the daemon wrote (run_erl's logs), for a failure's message.
  defp daemon_log(tmp) do
    Path.wildcard(Path.join([tmp, "log", "*"]))
    |> Enum.map_join("\n", fn f -> "== #{f}\n" <> String.slice(File.read!(f), -3000, 3000) end)
  end

  # `bin/app rpc` until the node answers (a daemon takes a while to come up).
  defp rpc(bin, script, env, tries \\ 120) do
    case System.cmd(bin, ["rpc", script], env: env, stderr_to_stdout: true) do
      {out, 0} ->
        {out, 0}

      {out, status} ->
        if tries > 0 and out =~ ~r/could not contact|nodedown|noconnection/i,
          do: Process.sleep(500) && rpc(bin, script, env, tries - 1),
          else: {out, status}
    end
  end
end
