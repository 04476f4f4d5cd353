defmodule SnakeBridge.OutputTest do
  # Not async: one test swaps the group leader of the library's sink process.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  import SnakeBridge.TestHelpers

  test "print in a call goes to the caller's group leader" do
    out =
      capture_io(fn -> assert {:ok, nil} = SnakeBridge.call("builtins", "print", ["hello"]) end)

    assert out == "hello\n"
  end

  test "stderr goes to :standard_error" do
    err =
      capture_io(:standard_error, fn ->
        {:ok, nil} = SnakeBridge.call("sb_output", "to_stderr", ["oops"])
      end)

    assert err == "oops\n"
  end

  test "lines come in order, a partial line at the end too, before the answer" do
    out =
      capture_io(fn ->
        assert {:ok, 3} = SnakeBridge.call("sb_output", "lines", [3, "tail"])
        send(self(), :after_call)
      end)

    assert out == "line 0\nline 1\nline 2\ntail"
    # nothing of the call is left in the mailbox
    assert_received :after_call
    refute_received {_, :io, _, _}
  end

  test "output during stream_next and enumeration of a generator" do
    out =
      capture_io(fn ->
        {:ok, gen} = SnakeBridge.call("sb_output", "chatty_gen", [3])
        assert Enum.to_list(gen) == [0, 1, 2]
      end)

    assert out == "making 0\nmaking 1\nmaking 2\ndone\n"
  end

  test "output of a stream/5 producer goes to the consumer" do
    out =
      capture_io(fn ->
        me = self()

        assert :ok =
                 SnakeBridge.stream(
                   "sb_output",
                   "chatty_gen",
                   [2],
                   [],
                   &(send(me, {:item, &1}) && :ok)
                 )
      end)

    assert out == "making 0\nmaking 1\ndone\n"
    assert_received {:item, 0}
    assert_received {:item, 1}
  end

  test "a flush sends a partial line at once" do
    out =
      capture_io(fn ->
        {:ok, nil} = SnakeBridge.call("sb_output", "progress", [])
      end)

    assert out == "50%...100%\n"
  end

  test "sys.stdout looks like a text stream" do
    out =
      capture_io(fn ->
        assert {:ok, %{"isatty" => false, "encoding" => "utf-8", "fileno" => 1, "buffer" => 6}} =
                 SnakeBridge.call("sb_output", "stream_facts", [])
      end)

    assert out == "abcdef"
  end

  test "bytes written to sys.stdout.buffer are decoded as UTF-8" do
    out = capture_io(fn -> {:ok, nil} = SnakeBridge.call("sb_output", "to_buffer", ["été\n"]) end)
    assert out == "été\n"
  end

  test "output of a call that timed out is written, and nothing arrives later" do
    out =
      capture_io(fn ->
        assert {:error, :timeout} =
                 SnakeBridge.call("sb_output", "print_then_hang", [], __runtime__: [timeout: 200])
      end)

    assert out == "started\n"
    refute_received {_, :io, _, _}
  end

  test "output of a thread Python started goes to the node's group leader, not the caller" do
    sink = Process.whereis(SnakeBridge.Sink)
    {:group_leader, node_leader} = Process.info(sink, :group_leader)
    {:ok, io} = StringIO.open("")
    Process.group_leader(sink, io)

    try do
      caller_out =
        capture_io(fn ->
          {:ok, nil} = SnakeBridge.call("sb_output", "print_in_thread", ["from a thread"])
        end)

      assert caller_out == ""

      assert eventually(fn -> StringIO.contents(io) == {"", "from a thread\n"} end,
               timeout: 10_000
             )
    after
      Process.group_leader(sink, node_leader)
    end
  end

  test "many processes printing at once each get their own lines" do
    tasks =
      for i <- 1..20 do
        Task.async(fn ->
          capture_io(fn ->
            {:ok, 50} = SnakeBridge.call("sb_output", "lines", [50, "end #{i}"])
          end)
        end)
      end

    for {task, i} <- Enum.with_index(tasks, 1) do
      out = Task.await(task, 30_000)
      expected = Enum.map_join(0..49, fn n -> "line #{n}\n" end) <> "end #{i}"
      assert out == expected
    end
  end
end
