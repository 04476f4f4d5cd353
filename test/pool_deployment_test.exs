defmodule SnakeBridge.PoolDeploymentTest do
  # Pools on nodes set up as deployments set them up, each in a BEAM of its own
  # (SnakeBridge.TestDistribution.start_vm!/1): a long name with host 127.0.0.1 and a
  # cookie of its own, and a node that is not distributed.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  alias SnakeBridge.TestDistribution, as: Dist

  @moduletag :pools
  @moduletag timeout: 300_000

  # A module of the app's own (on `python_path:`), imported by the workers.
  defp python_dir! do
    dir = tmp_dir!("sb_pool_py")
    File.mkdir_p!(dir)

    File.write!(Path.join(dir, "sb_pool_where.py"), """
    import os

    def where():
        return os.getpid()
    """)

    dir
  end

  test "a long-named node (name@127.0.0.1, its own cookie) starts workers; calls made as the application starts wait for them" do
    {vm, node} =
      Dist.start_vm!(
        name: :"sb_long_#{System.unique_integer([:positive])}",
        host: ~c"127.0.0.1",
        longnames: true
      )

    assert Atom.to_string(node) =~ ~r/@127\.0\.0\.1$/
    env = [pools: [work: [peers: 2]], python_path: [python_dir!()]]

    # Four calls from four processes, started the moment :snakebridge is up.
    results = :peer.call(vm, Dist, :start_and_call, [env, :work, 4], 240_000)
    vm_pid = :peer.call(vm, System, :pid, []) |> String.to_integer()

    for result <- results do
      assert {:ok, pid} = result
      assert pid != vm_pid
    end

    # (the calls went to the first worker up)
    :ok = :peer.call(vm, SnakeBridge.Pool, :ready, [:work, 120_000], 130_000)
    workers = :peer.call(vm, SnakeBridge.Pool, :nodes, [:work])
    assert length(workers) == 2

    for worker <- workers do
      assert Atom.to_string(worker) =~ ~r/^sb_long_\d+_work_[01]_\d+@127\.0\.0\.1$/
    end

    # Hidden: the workers are connected to this node, not to each other.
    assert Enum.sort(:peer.call(vm, :erlang, :nodes, [:hidden])) == Enum.sort(workers)
  end

  test "on a node that is not distributed: one warning, :not_distributed at once, no worker; the workers start once it is" do
    {vm, :nonode@nohost} = Dist.start_vm!()
    log = Path.join(tmp_dir!("sb_pool_log"), "vm.log")
    File.mkdir_p!(Path.dirname(log))
    :ok = :peer.call(vm, Dist, :log_to, [log])

    for {k, v} <- [pools: [work: [peers: 1]], python_path: [python_dir!()]],
        do: :ok = :peer.call(vm, Application, :put_env, [:snakebridge, k, v])

    {:ok, _} = :peer.call(vm, Application, :ensure_all_started, [:snakebridge], 120_000)
    # (what it logs goes to the file only, not to this test's output)
    :ok = :peer.call(vm, Logger, :remove_backend, [:console])
    # Nothing was started, nothing logged by the pool.
    refute :peer.call(vm, Dist, :logged, [log]) =~ "SnakeBridge pool"

    call = ["sb_pool_where", "where", [], [__runtime__: [pool_name: :work]]]

    for _ <- 1..3 do
      {result, ms} = :peer.call(vm, Dist, :timed, [SnakeBridge, :call, call])
      assert result == {:error, :not_distributed}
      assert ms < 1_000
    end

    assert :peer.call(vm, SnakeBridge.Pool, :ready, [:work, 1_000]) == {:error, :not_distributed}

    assert :peer.call(vm, SnakeBridge.Pool, :start, [:other, [peers: 1]]) ==
             {:error, :not_distributed}

    assert Exception.message(SnakeBridge.Error.to_exception(:not_distributed)) =~
             "--sname/--name"

    assert :peer.call(vm, SnakeBridge.Pool, :nodes, [:work]) == []
    assert :peer.call(vm, :erlang, :nodes, [:connected]) == []

    text = :peer.call(vm, Dist, :logged, [log])
    assert [_] = Regex.scan(~r/SnakeBridge pool :work cannot start its workers/, text)
    assert text =~ "--sname"
    assert text =~ "Node.start/2"

    # Distribution started later: the next call starts the worker and waits for it.
    name = :"sb_late_#{System.unique_integer([:positive])}"
    {:ok, _} = :peer.call(vm, Node, :start, [name, :shortnames])

    assert {:ok, pid} = :peer.call(vm, SnakeBridge, :call, call, 120_000)
    assert pid != String.to_integer(:peer.call(vm, System, :pid, []))
    assert [_] = :peer.call(vm, SnakeBridge.Pool, :nodes, [:work])
  end
end
