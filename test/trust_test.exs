defmodule SnakeBridge.TrustTest do
  # Regression tests of defects found and fixed: large items delivered intact, stops that
  # land only in their own job, timeouts that hold while an Elixir callback runs, and ids
  # of different kinds that share nothing. Not async: some tests lower the node-wide
  # callback_timeout, and the stop tests count on the call threads being theirs.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers

  alias SnakeBridge.{Session, StreamRef}

  @lib "sb_trust"

  # Sizes around the 64 KiB at which str/bytes results share Python's memory.
  @sizes [100, 64 * 1024 - 1, 64 * 1024, 160_000, 1024 * 1024 + 3]

  defp text(n, seed), do: for(i <- 0..(n - 1), into: "", do: <<?a + rem(i * 7 + seed, 26)>>)
  defp bytes(n, seed), do: for(i <- 0..(n - 1), into: <<>>, do: <<rem(i * 31 + seed, 256)>>)

  # Non-ASCII text of about n bytes (Python keeps its UTF-8 apart from its characters).
  defp unicode(n, seed), do: String.duplicate("é€" <> <<?a + rem(seed, 26)>>, div(n, 6) + 1)

  describe "large str and bytes" do
    test "stream/5 delivers every item intact, on both sides of 64 KiB" do
      for n <- @sizes do
        values = [text(n, 1), text(n, 2), unicode(n, 3)]
        assert stream_items!(@lib, "items", [values]) == values, "str items of #{n} bytes"

        blobs = [bytes(n, 1), bytes(n, 2)]

        assert stream_items!(@lib, "items", [Enum.map(blobs, &SnakeBridge.bytes/1)]) == blobs,
               "bytes items of #{n} bytes"
      end
    end

    test "the issue's case: builtins.iter over two 160 kB strings" do
      big = text(160_000, 5)
      assert stream_items!("builtins", "iter", [[big, big]]) == [big, big]
    end

    test "a large result stays intact after Python dropped it and more work ran" do
      values = for n <- @sizes, do: text(n, 9)
      {:ok, got} = SnakeBridge.call(@lib, "apply", [fn -> values end])
      assert got == values
      # Python's references are gone; the binaries keep the objects alive.
      for _ <- 1..20, do: {:ok, _} = SnakeBridge.call("builtins", "bytes", [200_000])
      :erlang.garbage_collect()
      assert got == values
      assert Enum.map(got, &byte_size/1) == @sizes
    end
  end

  describe "a stop lands only in its own job" do
    test "callers that die or time out inside callbacks stop no other call" do
      for round <- 1..3 do
        me = self()

        # Callers whose Elixir callback never returns: half are killed, half time out
        # (after 1 s: while the 40 calls below still run, as they take 2 s of GIL).
        doomed =
          for i <- 1..8 do
            spawn(fn ->
              result =
                SnakeBridge.call(
                  @lib,
                  "apply",
                  [
                    fn ->
                      send(me, {:in_callback, round, i})
                      Process.sleep(:infinity)
                    end
                  ],
                  if(rem(i, 2) == 0, do: [__runtime__: [timeout: 1_000]], else: [])
                )

              send(me, {:doomed_result, round, i, result})
            end)
          end

        for i <- 1..8, do: assert_receive({:in_callback, ^round, ^i}, 10_000)

        # 40 unrelated calls with no timeout, queued while the stops are delivered.
        others =
          for _ <- 1..40,
              do: Task.async(fn -> SnakeBridge.call("sb_foundation", "spin_for", [0.05]) end)

        for {pid, i} <- Enum.with_index(doomed, 1), rem(i, 2) == 1, do: Process.exit(pid, :kill)

        results = Task.await_many(others, 60_000)
        bad = Enum.reject(results, &match?({:ok, n} when is_integer(n), &1))
        assert bad == [], "round #{round}: #{length(bad)} of 40 unrelated calls failed"

        for i <- 1..8, rem(i, 2) == 0 do
          assert_receive {:doomed_result, ^round, ^i, {:error, :timeout}}, 10_000
        end
      end
    end

    test "an Elixir <-> Python recursion 200 levels deep" do
      rec = fn
        _rec, 0 ->
          0

        rec, n ->
          {:ok, v} = SnakeBridge.call(@lib, "apply", [fn -> rec.(rec, n - 1) end])
          v + 1
      end

      assert rec.(rec, 200) == 200
    end
  end

  describe "timeouts while an Elixir callback runs" do
    test "a call's timeout covers its callback: it returns on time and Python stops" do
      me = self()

      slow = fn ->
        send(me, {:callback_pid, self()})
        Process.sleep(3_000)
        :late
      end

      started = System.monotonic_time(:millisecond)

      assert {:error, :timeout} =
               SnakeBridge.call(@lib, "call_then_report", [slow, me, "t1"],
                 __runtime__: [timeout: 500]
               )

      elapsed = System.monotonic_time(:millisecond) - started
      # 500 ms and the caller's 100 ms grace; the margin is for a loaded machine.
      assert elapsed < 2_000, "returned after #{elapsed} ms"
      assert_receive {:callback_pid, cb}
      refute Process.alive?(cb), "the callback's process still runs"
      # Python's side was stopped as the call was: its finally ran.
      assert_receive {"finally", "t1"}, 2_000
    end

    test "callback_timeout fires on time and frees the thread" do
      true = SnakeBridge.Native.set_callback_timeout(300)

      try do
        started = System.monotonic_time(:millisecond)

        assert {:ok, ["timeout", waited]} =
                 SnakeBridge.call(@lib, "call_catching_timeout", [
                   fn -> Process.sleep(8_000) end
                 ])

        elapsed = System.monotonic_time(:millisecond) - started
        assert waited < 2.0, "Python waited #{waited} s"
        assert elapsed < 3_000, "the call returned after #{elapsed} ms"
      after
        true = SnakeBridge.Native.set_callback_timeout(5_000)
      end
    end

    test "a callback that never returns does not hold its call forever" do
      true = SnakeBridge.Native.set_callback_timeout(300)

      try do
        assert {:ok, ["timeout", _]} =
                 SnakeBridge.call(@lib, "call_catching_timeout", [
                   fn -> Process.sleep(:infinity) end
                 ])
      after
        true = SnakeBridge.Native.set_callback_timeout(5_000)
      end
    end

    test "the caller's death inside its callback frees the thread at once" do
      me = self()

      caller =
        spawn(fn ->
          SnakeBridge.call(@lib, "call_then_report", [
            fn ->
              send(me, :in_callback)
              Process.sleep(:infinity)
            end,
            me,
            "killed"
          ])
        end)

      assert_receive :in_callback, 5_000
      killed_at = System.monotonic_time(:millisecond)
      Process.exit(caller, :kill)
      assert_receive {"raised", "killed", "SnakeBridgeInterrupt"}, 5_000
      assert_receive {"finally", "killed"}, 5_000
      freed_in = System.monotonic_time(:millisecond) - killed_at
      # The target is 100 ms; the bound leaves room for a loaded 2-core machine.
      assert freed_in < 1_000, "Python's side ended #{freed_in} ms after the kill"
      assert eventually(fn -> busy_calls() == 0 end)
    end
  end

  defp busy_calls do
    Enum.find_value(SnakeBridge.Native.thread_stats(), 0, fn
      {"calls", _max, _threads, busy, _queued, _done} -> busy
      _ -> nil
    end)
  end

  describe "ids" do
    test "the k-th session and the k-th stream share no value" do
      sessions =
        for _ <- 1..50 do
          {:ok, id} = Session.start()
          id
        end

      streams =
        for _ <- 1..50 do
          {:ok, %StreamRef{} = s} = SnakeBridge.call("itertools", "count", [1])
          s
        end

      hex = fn id -> Regex.run(~r/[0-9a-f]{32}/, id) |> hd() end
      session_hex = MapSet.new(sessions, hex)
      stream_hex = MapSet.new(streams, &hex.(&1.ref_id))
      assert MapSet.size(session_hex) == 50
      assert MapSet.size(stream_hex) == 50
      assert MapSet.disjoint?(session_hex, stream_hex)

      # No session id names a stream through the wire format.
      for s <- sessions do
        wire = %{
          "__type__" => "stream_ref",
          "__schema__" => 1,
          "id" => "sr-" <> hex.(s),
          "session_id" => "default"
        }

        assert {:error, _} = StreamRef.from_wire_format(wire)
      end

      Enum.each(sessions, &Session.release/1)
    end
  end
end
