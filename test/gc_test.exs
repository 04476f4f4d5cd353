defmodule SnakeBridge.GcTest do
  # Not async: it reads process-wide counters (live objects, stream handles, the release
  # queue) that other tests would move.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers

  alias SnakeBridge.{Native, Ref, StreamRef}

  @lib "sb_foundation"

  defp new_tag, do: "gc-#{System.unique_integer([:positive])}"
  defp live(tag), do: SnakeBridge.call!(@lib, "count", [tag])

  # Runs `fun` in a new process and waits for it to exit.
  defp in_process(fun) do
    {pid, mon} = spawn_monitor(fun)
    assert_receive {:DOWN, ^mon, :process, ^pid, reason}, 10_000
    assert reason == :normal
  end

  defp release_queue_empty?, do: elem(Native.stats(), 1) == 0

  test "stats/0 returns {live_stream_handles, objects_waiting_for_release}" do
    assert {streams, waiting} = Native.stats()
    assert is_integer(streams) and streams >= 0
    assert is_integer(waiting) and waiting >= 0

    assert eventually(&release_queue_empty?/0)
    {before, _} = Native.stats()
    {:ok, %StreamRef{} = s1} = SnakeBridge.call("builtins", "iter", [[1, 2, 3]])
    {:ok, %StreamRef{} = s2} = SnakeBridge.call("sb_testlib", "counting_gen", [3])
    assert elem(Native.stats(), 0) == before + 2
    # a Ref is not a stream handle
    {:ok, %Ref{}} = SnakeBridge.call("builtins", "object")
    assert elem(Native.stats(), 0) == before + 2
    assert Enum.to_list(s1) == [1, 2, 3]
    assert Enum.to_list(s2) == [0, 1, 2]
  end

  test "1000 Tracked objects are released when the process holding their Refs exits" do
    assert eventually(&release_queue_empty?/0)
    start = SnakeBridge.call!("sb_testlib", "get", ["live"])

    in_process(fn ->
      refs = SnakeBridge.call!("sb_testlib", "make_tracked", [1000])
      assert length(refs) == 1000
      assert Enum.all?(refs, &match?(%Ref{type_name: "Tracked"}, &1))
      assert SnakeBridge.call!("sb_testlib", "get", ["live"]) == start + 1000
      assert Ref.method(Enum.at(refs, 7), "double", [], factor: 3) == {:ok, 21}
    end)

    assert eventually(fn -> SnakeBridge.call!("sb_testlib", "get", ["live"]) == start end),
           "live is #{SnakeBridge.call!("sb_testlib", "get", ["live"])}, expected #{start}"

    assert eventually(&release_queue_empty?/0)
  end

  test "Refs are released by garbage collection of a process that lives on" do
    tag = new_tag()
    parent = self()

    pid =
      spawn(fn ->
        n = SnakeBridge.call!(@lib, "make_probes", [tag, 1000]) |> length()
        send(parent, {:created, n})
        :erlang.garbage_collect()
        send(parent, :collected)

        receive do
          :stop -> :ok
        end
      end)

    assert_receive {:created, 1000}, 10_000
    assert_receive :collected, 10_000
    assert Process.alive?(pid)
    assert eventually(fn -> live(tag) == 0 end), "#{live(tag)} objects still alive"
    send(pid, :stop)
  end

  test "objects stay alive while some process holds their Ref" do
    tag = new_tag()
    refs = SnakeBridge.call!(@lib, "make_probes", [tag, 100])
    # A release the collection queued wrongly would have run once the queue is empty.
    :erlang.garbage_collect()
    assert eventually(&release_queue_empty?/0)
    assert live(tag) == 100

    # A copy sent to another process keeps its object alive after the sender drops it.
    parent = self()

    in_process(fn ->
      [keep | _] = SnakeBridge.call!(@lib, "make_probes", [tag <> ":sent", 3])
      send(parent, {:ref, keep})
    end)

    assert_receive {:ref, kept}
    assert eventually(fn -> live(tag <> ":sent") == 1 end)
    assert eventually(&release_queue_empty?/0)
    assert live(tag <> ":sent") == 1
    assert Ref.getattr(kept, "value") == {:ok, 0}

    # still used here, so nothing was freed under us
    assert length(refs) == 100
    assert Ref.getattr(List.last(refs), "value") == {:ok, 99}
    assert live(tag) == 100
  end

  test "a dropped generator StreamRef is closed by the cleanup thread" do
    dir = tmp_dir!()
    marker = Path.join(dir, "finally_ran")
    assert eventually(&release_queue_empty?/0)
    {streams_before, _} = Native.stats()
    parent = self()

    in_process(fn ->
      {:ok, %StreamRef{stream_type: "generator"} = gen} =
        SnakeBridge.call(@lib, "marker_gen", [marker])

      assert Enum.take(gen, 3) == [0, 1, 2]
      send(parent, {:streams_while_alive, elem(Native.stats(), 0)})
    end)

    assert_receive {:streams_while_alive, n}
    assert n == streams_before + 1

    # Nothing here calls Python: only the NIF's cleanup thread can run the `finally`.
    assert eventually(fn -> File.exists?(marker) end),
           "the generator's finally did not run after its StreamRef was dropped"

    assert File.read!(marker) == "closed"
    assert elem(Native.stats(), 0) == streams_before
    assert eventually(&release_queue_empty?/0)
  end

  test "state[\"finally\"] of a dropped counting_gen is bumped" do
    assert eventually(&release_queue_empty?/0)
    before = SnakeBridge.call!("sb_testlib", "get", ["finally"])

    in_process(fn ->
      {:ok, gen} = SnakeBridge.call("sb_testlib", "counting_gen", [])
      assert Enum.take(gen, 2) == [0, 1]
    end)

    assert eventually(fn -> SnakeBridge.call!("sb_testlib", "get", ["finally"]) == before + 1 end)
  end

  test "an exhausted StreamRef and its Refs are released too" do
    tag = new_tag()

    in_process(fn ->
      {:ok, it} =
        SnakeBridge.call("builtins", "iter", [SnakeBridge.call!(@lib, "make_probes", [tag, 50])])

      assert length(Enum.to_list(it)) == 50
    end)

    assert eventually(fn -> live(tag) == 0 end), "#{live(tag)} objects still alive"
  end

  test "many processes creating and dropping Refs leave nothing behind" do
    tag = new_tag()

    1..20
    |> Enum.map(fn _ ->
      Task.async(fn ->
        for _ <- 1..10 do
          refs = SnakeBridge.call!(@lib, "make_probes", [tag, 10])
          assert Enum.all?(refs, &match?(%Ref{}, &1))
        end

        :ok
      end)
    end)
    |> Task.await_many(30_000)

    assert eventually(fn -> live(tag) == 0 end), "#{live(tag)} objects still alive"
    assert eventually(&release_queue_empty?/0)
  end

  test "a finalizer that blocks does not stop the release of other objects" do
    t = "gcblock#{System.unique_integer([:positive])}"
    lib = "sb_threads"

    spawn(fn -> {:ok, _} = SnakeBridge.call(lib, "BlockingFinalizer", [t]) end)

    assert eventually(
             fn ->
               :erlang.garbage_collect()
               SnakeBridge.call!(lib, "tag_get", [t, "blocking_del_started"]) == 1
             end,
             timeout: 5_000
           )

    # While that __del__ blocks a cleanup thread, 5000 more objects are released.
    spawn(fn ->
      for _ <- 1..50 do
        {:ok, refs} = SnakeBridge.call(lib, "make_counted", [t, 100])
        100 = length(refs)
      end
    end)

    assert eventually(
             fn ->
               :erlang.garbage_collect()
               SnakeBridge.call!(lib, "tag_get", [t, "freed"]) == 5000
             end,
             timeout: 10_000
           ),
           "freed #{SnakeBridge.call!(lib, "tag_get", [t, "freed"])} of 5000"

    SnakeBridge.call!(lib, "unblock", [t])
    assert eventually(fn -> SnakeBridge.call!(lib, "tag_get", [t, "blocking_del_done"]) == 1 end)
  end
end
