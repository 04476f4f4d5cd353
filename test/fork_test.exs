defmodule SnakeBridge.ForkTest do
  # Python code that forks must not stop, crash or copy the node. Each case runs in a
  # child VM (a failure would take the test VM down with it) that prints what it saw.
  use ExUnit.Case, async: true

  @support Path.expand("support/python", __DIR__)

  defp in_child_vm(code) do
    script = """
    #{code}
    # Signals from the children reached no one here: still running, and it says so.
    Process.sleep(300)
    IO.puts("node alive")
    """

    System.cmd("mix", ["run", "--no-compile", "-e", script],
      env: [{"MIX_ENV", "test"}, {"PYTHONPATH", @support}],
      stderr_to_stdout: true
    )
  end

  @tag :timing
  test "multiprocessing spawns by default; its Pool and terminate() leave the node running" do
    {out, status} =
      in_child_vm("""
      IO.inspect(SnakeBridge.call("sb_fork", "start_method", []), label: "method")
      IO.inspect(SnakeBridge.call("sb_fork", "pool_map", []), label: "pool")
      IO.inspect(SnakeBridge.call("sb_fork", "terminate_child", []), label: "terminate")
      """)

    assert status == 0, out
    assert out =~ ~s(method: {:ok, "spawn"})
    assert out =~ "pool: {:ok, [1, 2, 3]}"
    assert out =~ "terminate: {:ok, -15}"
    assert out =~ "node alive"
  end

  @tag :timing
  test "a forked copy of the node: signals end it, not the node; it never returns to work" do
    {out, status} =
      in_child_vm("""
      IO.inspect(SnakeBridge.call("sb_fork", "terminate_child", ["fork"]), label: "fork terminate")
      IO.inspect(SnakeBridge.call("sb_fork", "signal_forked_child", ["SIGUSR1"]), label: "usr1")
      IO.inspect(SnakeBridge.call("sb_fork", "signal_forked_child", ["SIGTERM"]), label: "term")
      IO.inspect(SnakeBridge.call("sb_fork", "fork_and_return", []), label: "fork return")
      IO.inspect(SnakeBridge.call("operator", "add", [1, 2]), label: "after")
      """)

    assert status == 0, out
    assert out =~ "fork terminate: {:ok, -15}"
    assert out =~ "usr1: {:ok, -10}"
    assert out =~ "term: {:ok, -15}"
    # The child ended as soon as its job returned; only the parent answered.
    assert out =~ "fork return: {:ok, 0}"
    refute out =~ ~s("child")
    assert out =~ "after: {:ok, 3}"
    assert out =~ "node alive"
    refute out =~ "erl_crash.dump"
  end
end
