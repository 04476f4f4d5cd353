defmodule SnakeBridge.StreamLifecycleTest do
  # The Python iterator lives as long as some process holds its StreamRef; when the BEAM
  # collects the last handle, the iterator is closed (a generator's `finally` runs).
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers

  alias SnakeBridge.{Runtime, StreamRef}

  # Each test's generators count under their own tag (sb_testlib.tagged_gen, a
  # counting_gen with private counters), so a stream of an earlier test that the BEAM
  # collects late cannot change what this test reads.
  setup do
    %{tag: "lifecycle-#{System.unique_integer([:positive])}"}
  end

  defp py_get(tag, key), do: SnakeBridge.call!("sb_testlib", "tag_get", [tag, key])

  # Every release the BEAM queued (closing an iterator) has run. Not async: the queue
  # is this module's alone.
  defp release_queue_empty?, do: elem(SnakeBridge.Native.stats(), 1) == 0

  # Makes a stream in a process that takes `take` items, reports the ref_id, and exits.
  defp stream_in_dying_process(tag, take) do
    parent = self()

    {pid, mon} =
      spawn_monitor(fn ->
        {:ok, ref} = SnakeBridge.call("sb_testlib", "tagged_gen", [tag])
        items = Enum.take(ref, take)
        send(parent, {:made, ref.ref_id, items})
      end)

    assert_receive {:made, ref_id, items}, 5_000
    assert_receive {:DOWN, ^mon, :process, ^pid, :normal}, 5_000
    {ref_id, items}
  end

  test "the generator's finally runs when the last handle is collected", %{tag: tag} do
    {_id, items} = stream_in_dying_process(tag, 2)
    assert items == [0, 1]
    :erlang.garbage_collect()

    assert eventually(fn -> py_get(tag, "finally") == 1 end, gc: true),
           "finally did not run within 2 s (finally = #{py_get(tag, "finally")})"

    # closing does not pull more items
    assert py_get(tag, "produced") == 2
  end

  test "a never-started generator is released too", %{tag: tag} do
    parent = self()

    spawn(fn ->
      {:ok, ref} = SnakeBridge.call("sb_testlib", "tagged_gen", [tag])
      send(parent, {:wire, StreamRef.to_wire_format(ref)})
    end)

    assert_receive {:wire, wire}
    :erlang.garbage_collect()

    assert eventually(fn -> StreamRef.from_wire_format(wire) == {:error, :unknown_stream} end,
             gc: true
           )

    # a generator that never started has no frame: nothing ran
    assert py_get(tag, "produced") == 0
  end

  test "after collection the wire id no longer resolves", %{tag: tag} do
    {ref_id, _} = stream_in_dying_process(tag, 1)
    :erlang.garbage_collect()

    wire = %{
      "__type__" => "stream_ref",
      "__schema__" => 1,
      "id" => ref_id,
      "session_id" => "default",
      "stream_type" => "generator",
      "type_name" => "generator",
      "python_module" => "builtins"
    }

    assert eventually(fn -> StreamRef.from_wire_format(wire) == {:error, :unknown_stream} end,
             gc: true
           )

    assert eventually(fn -> py_get(tag, "finally") == 1 end, gc: true)
  end

  test "the stream stays alive while another process holds a copy", %{tag: tag} do
    {:ok, ref} = SnakeBridge.call("sb_testlib", "tagged_gen", [tag])
    parent = self()

    spawn(fn ->
      send(parent, {:took, Enum.take(ref, 2)})
      # Its copy is dead code now: collecting it runs what dropping a handle runs.
      :erlang.garbage_collect()
      send(parent, :collected)
    end)

    assert_receive {:took, [0, 1]}
    assert_receive :collected
    assert eventually(&release_queue_empty?/0)

    assert py_get(tag, "finally") == 0
    assert Runtime.stream_next(ref) == {:ok, 2}
  end

  test "an exhausted generator ran its finally at the end, once", %{tag: tag} do
    parent = self()

    spawn(fn ->
      {:ok, ref} = SnakeBridge.call("sb_testlib", "tagged_gen", [tag, 3])
      send(parent, {:all, Enum.to_list(ref), StreamRef.to_wire_format(ref)})
    end)

    assert_receive {:all, [0, 1, 2], wire}
    assert py_get(tag, "finally") == 1
    :erlang.garbage_collect()

    assert eventually(fn -> StreamRef.from_wire_format(wire) == {:error, :unknown_stream} end,
             gc: true
           )

    # The handle is gone and its release has run: the finally did not run twice.
    assert eventually(&release_queue_empty?/0)
    assert py_get(tag, "finally") == 1
  end

  test "an async generator's finally runs when its handle is collected" do
    {:ok, true} = SnakeBridge.call("sb_testlib", "reset_extra")
    parent = self()

    spawn(fn ->
      {:ok, ref} = SnakeBridge.call("sb_testlib", "counting_agen", [])
      send(parent, {:took, ref.stream_type, Enum.take(ref, 2)})
    end)

    assert_receive {:took, "async_generator", [0, 1]}
    :erlang.garbage_collect()

    assert eventually(
             fn -> SnakeBridge.call!("sb_testlib", "get_extra", ["afinally"]) == 1 end,
             gc: true
           )

    assert SnakeBridge.call!("sb_testlib", "get_extra", ["aproduced"]) == 2
  end
end
