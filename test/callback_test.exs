defmodule SnakeBridge.CallbackTest do
  # Not async: one test lowers the node-wide callback_timeout for a moment.
  use ExUnit.Case, async: false

  alias SnakeBridge.{PythonError, Session}

  @lib "sb_callback"

  describe "pids" do
    test "a pid is an object with .send(value)" do
      assert {:ok, 3} =
               SnakeBridge.call(@lib, "send_each", [self(), [1, "two", %{"three" => 3.0}]])

      assert_received 1
      assert_received "two"
      assert_received %{"three" => 3.0}
    end

    test "snakebridge.send(pid, value) from Python" do
      {:ok, nil} = SnakeBridge.call(@lib, "module_send", [self(), {:ok, [1, 2]}])
      assert_received {"ok", [1, 2]} = _
    end

    test "from a thread Python started, to another process" do
      parent = self()
      other = spawn(fn -> receive(do: (msg -> send(parent, {:got, msg}))) end)
      {:ok, nil} = SnakeBridge.call(@lib, "send_from_thread", [other, "hi"])
      assert_receive {:got, "hi"}, 5_000
    end

    test "a pid comes back as itself, and compares and hashes by process" do
      assert SnakeBridge.call(@lib, "identity", [self()]) == {:ok, self()}

      assert {:ok, %{"equal" => true, "hash_equal" => true, "repr" => "<snakebridge.Pid>"}} =
               SnakeBridge.call(@lib, "pid_facts", [self(), self()])

      other = spawn(fn -> :ok end)
      assert {:ok, %{"equal" => false}} = SnakeBridge.call(@lib, "pid_facts", [self(), other])
    end

    test "sending to a dead process is not an error" do
      dead = spawn(fn -> :ok end)
      ref = Process.monitor(dead)
      assert_receive {:DOWN, ^ref, _, _, _}
      assert {:ok, 1} = SnakeBridge.call(@lib, "send_each", [dead, [1]])
    end
  end

  describe "functions" do
    test "Python calls an Elixir function and gets its result" do
      assert SnakeBridge.call(@lib, "apply", [fn a, b -> a + b end, 2, 3]) == {:ok, 5}

      assert SnakeBridge.call(@lib, "map_with", [&String.upcase/1, ["a", "b"]]) ==
               {:ok, ["A", "B"]}
    end

    test "the function runs in a process of the caller's: linked, its dictionary and group leader" do
      me = self()
      Process.put(:sb_request_id, "r-42")
      gl = Process.group_leader()

      assert {:ok, [false, true, "r-42", true, true]} =
               SnakeBridge.call(@lib, "apply", [
                 fn ->
                   {:links, links} = Process.info(self(), :links)

                   [
                     self() == me,
                     me in links,
                     Process.get(:sb_request_id),
                     Process.group_leader() == gl,
                     hd(Process.get(:"$callers")) == me
                   ]
                 end
               ])
    end

    test "a function comes back as itself" do
      fun = &Function.identity/1
      assert SnakeBridge.call(@lib, "identity", [fun]) == {:ok, fun}
    end

    test "an exception in the function is a Python exception (snakebridge.ElixirError)" do
      assert {:ok, ["ElixirError", message]} =
               SnakeBridge.call(@lib, "catch_elixir_error", [fn -> raise "kaboom" end])

      assert message =~ "kaboom"

      assert {:error, %PythonError{type: "snakebridge.ElixirError", message: message}} =
               SnakeBridge.call(@lib, "apply", [fn -> throw(:oops) end])

      assert message =~ ":oops"
    end

    test "a wrong arity is an ElixirError, keyword arguments a TypeError" do
      assert {:error, %PythonError{type: "snakebridge.ElixirError"}} =
               SnakeBridge.call(@lib, "apply", [fn a -> a end, 1, 2])

      assert {:error, %PythonError{type: "TypeError"}} =
               SnakeBridge.call(@lib, "apply_kw", [fn -> :ok end])
    end

    test "a function that calls back into Python does not deadlock" do
      fun = fn x -> SnakeBridge.call!(@lib, "double", [x]) + 1 end
      assert SnakeBridge.call(@lib, "map_with", [fun, [1, 2, 3]]) == {:ok, [3, 5, 7]}
    end

    test "... also in a thread-affine session (one thread)" do
      {:ok, session} = Session.start(affinity: :thread)

      try do
        Session.with_session(session, fn ->
          fun = fn x -> SnakeBridge.call!(@lib, "double", [x]) end
          assert SnakeBridge.call(@lib, "map_with", [fun, [5, 6]]) == {:ok, [10, 12]}
        end)
      after
        Session.release(session)
      end
    end

    test "many processes calling back at once" do
      tasks =
        for i <- 1..30 do
          Task.async(fn ->
            SnakeBridge.call(@lib, "map_with", [fn x -> x * i end, Enum.to_list(1..5)])
          end)
        end

      for {task, i} <- Enum.with_index(tasks, 1) do
        assert Task.await(task, 30_000) == {:ok, Enum.map(1..5, &(&1 * i))}
      end
    end

    test "from a thread Python started, the function runs in a process of its own" do
      me = self()

      assert {:ok, true} =
               SnakeBridge.call(@lib, "in_thread", [fn x -> self() != me and x == 7 end, 7])
    end

    test "a function called by a stream/5 producer runs in a process of the consumer's" do
      me = self()

      assert :ok =
               SnakeBridge.stream(
                 @lib,
                 "map_with",
                 [fn x -> {x, hd(Process.get(:"$callers")) == me} end, [1, 2]],
                 [],
                 fn
                   item ->
                     send(me, {:item, item})
                     :ok
                 end
               )

      assert_received {:item, {1, true}}
      assert_received {:item, {2, true}}
    end

    test "a slow function times out in Python after callback_timeout" do
      Application.put_env(:snakebridge, :callback_timeout, 200)
      true = SnakeBridge.Native.set_callback_timeout(200)

      try do
        assert {:error, %PythonError{type: "TimeoutError"}} =
                 SnakeBridge.call(@lib, "apply", [fn -> Process.sleep(2_000) end])
      after
        Application.delete_env(:snakebridge, :callback_timeout)
        true = SnakeBridge.Native.set_callback_timeout(5_000)
      end
    end
  end
end
