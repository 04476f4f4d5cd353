defmodule SnakeBridge.StreamCallbackTest do
  # Timing and Python-side counters are shared: run these one at a time.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers

  setup_all do
    SnakeBridge.call!("sys", "path.insert", [0, Path.expand("support/python", __DIR__)])
    :ok
  end

  setup do
    SnakeBridge.call!("sb_streaming", "reset")
    :ok
  end

  defp get(key), do: SnakeBridge.call!("sb_streaming", "get", [key])

  # No producer is running or waiting (the signal that a stopped one has really ended:
  # after it, its counters cannot change and it sends nothing more). The tests here run
  # alone (async: false), so every stream thread is theirs.
  defp producers_idle? do
    match?(%{busy: 0, queued: 0}, SnakeBridge.Runtime.thread_stats().streams)
  end

  defp assert_producer_ended do
    assert eventually(&producers_idle?/0), "a stream producer is still running"
  end

  defp collect(module, function, args, opts \\ []) do
    me = self()
    tag = make_ref()

    result =
      SnakeBridge.stream(module, function, args, opts, fn item ->
        send(me, {tag, item})
        :ok
      end)

    {result, drain(tag, [])}
  end

  defp drain(tag, acc) do
    receive do
      {^tag, item} -> drain(tag, [item | acc])
    after
      0 -> Enum.reverse(acc)
    end
  end

  test "items arrive in order, one callback call per item" do
    assert collect("sb_streaming", "produce", [5000]) == {:ok, Enum.to_list(0..4999)}
    assert get("finally") == 1
  end

  test "a collection is iterated; a plain value is one chunk" do
    assert collect("builtins", "range", [4]) == {:ok, [0, 1, 2, 3]}
    assert collect("math", "sqrt", [16]) == {:ok, [4.0]}
    assert collect("builtins", "str", ["abc"]) == {:ok, ["abc"]}
    assert collect("builtins", "dict", [], a: 1) == {:ok, [%{"a" => 1}]}
  end

  test "async generators are iterated" do
    SnakeBridge.call!("sys", "path.insert", [0, Path.expand("support/python", __DIR__)])
    assert collect("sb_testlib", "make_agen", [5]) == {:ok, [0, 1, 2, 3, 4]}
  end

  test ":halt stops the producer and closes the generator" do
    me = self()

    assert :ok =
             SnakeBridge.stream("sb_streaming", "produce", [], [], fn x ->
               send(me, {:item, x})
               if x == 9, do: :halt, else: :ok
             end)

    assert get("finally") == 1
    produced = get("produced")
    assert_producer_ended()
    assert get("produced") == produced
    assert_received {:item, 9}
    refute_received {:item, 10}
  end

  @tag :timing
  test "a timed-out busy loop really stops, its finally runs, and it returns quickly" do
    t0 = System.monotonic_time(:millisecond)

    assert {:error, :timeout} =
             SnakeBridge.stream(
               "sb_streaming",
               "spin",
               [],
               [__runtime__: [stream_timeout: 200]],
               fn _ ->
                 :ok
               end
             )

    elapsed = System.monotonic_time(:millisecond) - t0
    # Typically within a few ms of the deadline; the margin is for a loaded machine (the
    # loop never ends by itself: a stop that failed would hang until ExUnit's timeout).
    assert elapsed >= 200 and elapsed < 5_000, "returned after #{elapsed} ms"
    assert get("finally") == 1
    before = get("produced")
    assert_producer_ended()
    assert get("produced") == before
  end

  test "except Exception in Python cannot swallow the stop" do
    assert {:error, :timeout} =
             SnakeBridge.stream(
               "sb_streaming",
               "swallow_everything",
               [],
               [__runtime__: [stream_timeout: 100]],
               fn _ -> :ok end
             )

    assert get("finally") == 1
  end

  @tag :timing
  test "a timed-out sleeping generator stops at its next bytecode" do
    t0 = System.monotonic_time(:millisecond)

    assert {:error, :timeout} =
             SnakeBridge.stream(
               "sb_streaming",
               "produce",
               [],
               [delay: 0.05, __runtime__: [stream_timeout: 200]],
               fn _ -> :ok end
             )

    assert System.monotonic_time(:millisecond) - t0 < 1_500
    assert get("finally") == 1
    produced = get("produced")
    # 50 ms per item for 200 ms: about 4 (fewer when the machine is loaded).
    assert produced in 1..5
    assert_producer_ended()
    assert get("produced") == produced
  end

  @tag :timing
  test "small batches from a producer a little faster than the callback still time out" do
    # One item per batch (a producer that sleeps 1 ms), callback 2 ms: the timeout is
    # checked before every batch, not only every 64 items.
    start = System.monotonic_time(:millisecond)

    assert {:error, :timeout} =
             SnakeBridge.stream(
               "sb_streaming",
               "produce",
               [],
               [delay: 0.001, __runtime__: [stream_timeout: 300]],
               fn _ -> Process.sleep(2) end
             )

    elapsed = System.monotonic_time(:millisecond) - start
    assert elapsed < 2_000, "returned after #{elapsed} ms (timeout 300 ms)"
  end

  @tag :timing
  test "a slow callback does not outlive the timeout by a batch" do
    # 40 items arrive at once; each callback takes 300 ms.
    start = System.monotonic_time(:millisecond)

    assert {:error, :timeout} =
             SnakeBridge.stream(
               "builtins",
               "range",
               [40],
               [__runtime__: [stream_timeout: 500]],
               fn _ -> Process.sleep(300) end
             )

    elapsed = System.monotonic_time(:millisecond) - start
    # The whole batch would take 12 s; the margin is for a loaded machine.
    assert elapsed < 5_000, "returned after #{elapsed} ms (timeout 500 ms)"
  end

  test "a bad stream_timeout is refused before Python runs, with no stray message" do
    for bad <- [1.5, -1, "100", :forever] do
      assert_raise ArgumentError, ~r/stream_timeout/, fn ->
        SnakeBridge.stream("builtins", "range", [3], [__runtime__: [stream_timeout: bad]], fn _ ->
          :ok
        end)
      end
    end

    refute_received _
  end

  test "a stream_timeout longer than receive allows works" do
    assert :ok =
             SnakeBridge.stream(
               "builtins",
               "range",
               [3],
               [__runtime__: [stream_timeout: 2 ** 40]],
               fn _ ->
                 :ok
               end
             )
  end

  test "backpressure is counted in bytes: 1 MiB items stay a few MiB ahead of a slow callback" do
    t = "bytes#{System.unique_integer([:positive])}"
    mib = 1024 * 1024
    me = self()

    result =
      SnakeBridge.stream(
        "sb_threads",
        "big_items",
        [t, mib, 60],
        [__runtime__: [stream_bytes: 4 * mib]],
        fn item ->
          # Contents, not only the size: item i is made of the byte i.
          i = Process.get(:sb_item, 0)
          Process.put(:sb_item, i + 1)
          true = item == :binary.copy(<<rem(i, 256)>>, mib)
          produced = SnakeBridge.call!("sb_threads", "tag_get", [t, "produced"])
          send(me, {:lead, produced})
          Process.sleep(5)
        end
      )

    assert result == :ok
    leads = for i <- 1..60, do: receive(do: ({:lead, p} -> p - i))
    # With items counted alone, 8 batches of up to 1024 items could be ahead (all 60).
    assert Enum.max(leads) <= 12, "the producer ran #{Enum.max(leads)} items ahead"
  end

  @tag :timing
  test "an unrelated call is not held up while large items stream to a slow callback" do
    t = "lat#{System.unique_integer([:positive])}"
    mib = 1024 * 1024
    me = self()

    streamer =
      Task.async(fn ->
        SnakeBridge.stream("sb_threads", "big_items", [t, mib, 100], [], fn _ ->
          send(me, :item)
          Process.sleep(10)
        end)
      end)

    assert_receive :item, 5_000

    worst =
      Enum.max(
        for _ <- 1..20 do
          {us, {:ok, _}} = :timer.tc(fn -> SnakeBridge.call("math", "sqrt", [2.0]) end)
          Process.sleep(20)
          us
        end
      )

    assert Task.await(streamer, 60_000) == :ok
    # Batches are cut at their share of the byte budget, so converting one holds the
    # GIL for milliseconds (whole unbounded batches held it for seconds).
    assert worst < 500_000, "a call took #{div(worst, 1000)} ms"
  end

  test "items before one that cannot be converted are delivered, then the error" do
    me = self()

    assert {:error, %SnakeBridge.PythonError{type: "RecursionError"}} =
             SnakeBridge.stream("sb_threads", "then_unconvertible", [3], [], fn x ->
               send(me, {:item, x})
               :ok
             end)

    for x <- 0..2, do: assert_received({:item, ^x})
  end

  test "no message of a stream is left or arrives after a timeout" do
    assert {:error, :timeout} =
             SnakeBridge.stream(
               "sb_streaming",
               "produce",
               [],
               [__runtime__: [stream_timeout: 100, stream_window: 64]],
               fn _ -> Process.sleep(1) end
             )

    assert {:messages, []} = Process.info(self(), :messages)
    assert_producer_ended()
    assert {:messages, []} = Process.info(self(), :messages)
  end

  test "a dead caller's producer is stopped and its generator closed" do
    me = self()

    pid =
      spawn(fn ->
        SnakeBridge.stream("sb_streaming", "produce", [], [delay: 0.001], fn _ ->
          send(me, :started)
          Process.sleep(:infinity)
        end)
      end)

    assert_receive :started, 2_000
    Process.exit(pid, :kill)
    assert eventually(fn -> get("finally") == 1 end)
    produced = get("produced")
    assert_producer_ended()
    assert get("produced") == produced
  end

  test "the next job on a worker after an interrupt runs clean" do
    for _ <- 1..3 do
      assert {:error, :timeout} =
               SnakeBridge.stream(
                 "sb_streaming",
                 "spin",
                 [],
                 [__runtime__: [stream_timeout: 50]],
                 fn _ ->
                   :ok
                 end
               )

      # Busy Python code right after: a leftover interrupt would stop it.
      assert collect("sb_streaming", "produce", [20_000]) == {:ok, Enum.to_list(0..19_999)}
      assert {:ok, _} = SnakeBridge.call("sb_testlib", "busy", [0.05])
    end
  end

  test "an exception in the generator is returned after the items before it" do
    assert {{:error, %SnakeBridge.PythonError{type: "RuntimeError", message: "failed after 3"}},
            [0, 1, 2]} = collect("sb_streaming", "fail_after", [3])
  end

  test "an exception in the callback stops the producer, then is re-raised" do
    assert_raise ArgumentError, "bad item", fn ->
      SnakeBridge.stream("sb_streaming", "produce", [], [], fn x ->
        if x == 5, do: raise(ArgumentError, "bad item"), else: :ok
      end)
    end

    assert get("finally") == 1
    produced = get("produced")
    assert_producer_ended()
    assert get("produced") == produced
    assert {:messages, []} = Process.info(self(), :messages)
  end

  test "a callback returning anything but :ok or :halt stops the producer and raises" do
    # The first item of a batch and a later one take different paths: both are checked.
    for {bad_at, bad} <- [{0, nil}, {5, {:ok, 5}}, {2_000, true}] do
      SnakeBridge.call!("sb_streaming", "reset")
      me = self()

      error =
        assert_raise ArgumentError, fn ->
          SnakeBridge.stream("sb_streaming", "produce", [], [], fn x ->
            send(me, {:item, x})
            if x == bad_at, do: bad, else: :ok
          end)
        end

      assert error.message ==
               "SnakeBridge.stream/5: the callback must return :ok or :halt, got: " <>
                 inspect(bad)

      # Stopped before the raise: its finally ran, and no item after the bad one came.
      assert get("finally") == 1
      for x <- 0..bad_at, do: assert_received({:item, ^x})
      assert {:messages, []} = Process.info(self(), :messages)
    end
  end

  test "an unconvertible argument is an error and Python is not called" do
    ref = make_ref()

    assert {:error, %SnakeBridge.ConversionError{term: ^ref, path: [{:arg, 0}]}} =
             SnakeBridge.stream("sb_streaming", "produce", [ref], [], fn _ -> :ok end)

    assert get("produced") == 0
  end

  describe "timeouts from config" do
    setup do
      old = Application.get_env(:snakebridge, :runtime)

      Application.put_env(:snakebridge, :runtime,
        default_stream_timeout: 5_000,
        default_timeout: 4_000,
        profiles: %{
          quick: [timeout: 100, stream_timeout: 150],
          batch_job: [timeout: :infinity, stream_timeout: :infinity]
        },
        library_profiles: %{"sb_streaming" => :quick}
      )

      SnakeBridge.Runtime.reload_config()

      on_exit(fn ->
        if old,
          do: Application.put_env(:snakebridge, :runtime, old),
          else: Application.delete_env(:snakebridge, :runtime)

        SnakeBridge.Runtime.reload_config()
      end)
    end

    test "precedence: explicit option, then profile, then library profile, then default" do
      alias SnakeBridge.Runtime
      assert Runtime.resolve_timeout(:stream_timeout, "sb_streaming", stream_timeout: 7) == 7

      assert Runtime.resolve_timeout(:stream_timeout, "sb_streaming", profile: :batch_job) ==
               :infinity

      assert Runtime.resolve_timeout(:stream_timeout, "sb_streaming", []) == 150
      assert Runtime.resolve_timeout(:stream_timeout, "other", []) == 5_000
      assert Runtime.resolve_timeout(:timeout, "sb_streaming", []) == 100
      assert Runtime.resolve_timeout(:timeout, "other", []) == 4_000
    end

    @tag :timing
    test "the library profile's stream_timeout stops a stream" do
      t0 = System.monotonic_time(:millisecond)

      assert {:error, :timeout} =
               SnakeBridge.stream("sb_streaming", "spin", [], [], fn _ -> :ok end)

      # 150 ms from the profile, not the 5 s default (the margin is for a loaded machine).
      assert System.monotonic_time(:millisecond) - t0 < 2_500
    end
  end

  test "a million items with a slow callback keep memory flat (backpressure)" do
    me = self()
    window = 4
    chunk = 256

    sampler =
      spawn_link(fn ->
        sample = fn sample, max ->
          receive do
            :stop -> send(me, {:max_queue, max})
          after
            5 ->
              {:message_queue_len, n} = Process.info(me, :message_queue_len)
              sample.(sample, max(max, n))
          end
        end

        sample.(sample, 0)
      end)

    {:memory, mem_before} = Process.info(self(), :memory)
    counter = :counters.new(1, [])

    assert :ok =
             SnakeBridge.stream(
               "sb_streaming",
               "produce",
               [1_000_000],
               [__runtime__: [stream_window: window, stream_chunk: chunk]],
               fn x ->
                 :counters.add(counter, 1, 1)
                 # Slow: a little work per item, and a pause now and then.
                 if rem(x, 50_000) == 0 do
                   # The producer is never more than the window ahead of us.
                   ahead = SnakeBridge.call!("sb_streaming", "get", ["produced"]) - x
                   assert ahead <= (window + 1) * chunk, "producer #{ahead} items ahead"
                   Process.sleep(20)
                 end

                 :ok
               end
             )

    send(sampler, :stop)
    assert_receive {:max_queue, max_queue}, 1_000
    assert :counters.get(counter, 1) == 1_000_000
    assert max_queue <= window + 1
    {:memory, mem_after} = Process.info(self(), :memory)
    assert mem_after - mem_before < 10_000_000
  end

  test "many processes stream at once" do
    tasks =
      for i <- 1..20 do
        Task.async(fn -> collect("builtins", "range", [i * 100]) end)
      end

    for {task, i} <- Enum.zip(tasks, 1..20) do
      assert Task.await(task, 10_000) == {:ok, Enum.to_list(0..(i * 100 - 1))}
    end
  end
end
