defmodule SnakeBridge.PoolTest do
  # Worker pools on real peer nodes (OTP's :peer), each with its own embedded Python.
  use ExUnit.Case, async: false

  import Bitwise
  import ExUnit.CaptureIO

  alias SnakeBridge.{Pool, Ref, Runtime, StreamRef}

  @moduletag :pools
  @moduletag timeout: 180_000

  @pool :pool_test
  @rt [__runtime__: [pool_name: @pool]]

  setup_all do
    SnakeBridge.TestDistribution.start!()
    :ok = Pool.start(@pool, peers: 2)
    :ok = Pool.ready(@pool, 60_000)
    on_exit(fn -> Pool.stop(@pool) end)
    :ok
  end

  # Every test starts with both workers up (a crash test elsewhere restarts its own pool;
  # on a loaded machine a worker can take seconds to start).
  setup do
    :ok = Pool.ready(@pool, 120_000)
  end

  defp pid_of(opts \\ @rt), do: SnakeBridge.call!("os", "getpid", [], opts)

  defp session_on(node, prefix \\ "s") do
    Enum.find_value(1..1000, fn i ->
      id = "#{prefix}#{i}"

      {:ok, ref} =
        SnakeBridge.call("builtins", "object", [], __runtime__: [pool_name: @pool, session_id: id])

      if Pool.node_of(ref) == node, do: id
    end)
  end

  describe "routing" do
    test "workers get the pool's spin and give their core away while spinning" do
      for node <- Pool.nodes(@pool) do
        assert :erpc.call(node, Application, :get_env, [:snakebridge, :spin_us]) == 300
        assert :erpc.call(node, Application, :get_env, [:snakebridge, :spin_give_way]) == true
      end

      assert Application.get_env(:snakebridge, :spin_give_way, false) == false
    end

    test "a call with pool_name runs on a worker, one without on this node" do
      assert pid_of() != String.to_integer(System.pid())
      assert pid_of([]) == String.to_integer(System.pid())
      {:ok, ref} = SnakeBridge.call("fractions", "Fraction", [3, 4], @rt)
      assert Pool.node_of(ref) in Pool.nodes(@pool)
      assert ref.pool_name == @pool
    end

    test "values above every size threshold cross nodes whole, both ways" do
      # A list above the converter's kept buffer (2^20 items), a run of strs, a map of
      # 100k keys, bytes and a str of 1 MiB (shared binaries on the worker) and nested
      # containers; then the same sizes as arguments, checked by Python.
      n = 1_100_000

      code = """
      big = list(range(-5, #{n} - 5))
      strs = [f"s{i}" for i in range(20000)]
      d = {f"k{i}": i for i in range(100000)}
      b = bytes(range(256)) * 4096
      s = "é" * (1 << 19)
      nested = [[i, (str(i), float(i))] for i in range(50000)]
      """

      assert {:ok, got} = SnakeBridge.eval(code, %{}, @rt)
      assert got["big"] == Enum.to_list(-5..(n - 6))
      assert got["strs"] == for(i <- 0..19_999, do: "s#{i}")
      assert got["d"] == Map.new(0..99_999, &{"k#{&1}", &1})
      assert got["b"] == :binary.copy(:binary.list_to_bin(Enum.to_list(0..255)), 4096)
      assert got["s"] == String.duplicate("é", 1 <<< 19)
      assert got["nested"] == for(i <- 0..49_999, do: [i, {"#{i}", i * 1.0}])

      check =
        "(sum(big), len(big), __import__('hashlib').sha256(b).hexdigest(), len(s), s[-1], " <>
          "d['k99999'], len(d))"

      scope = Map.take(got, ["big", "b", "s", "d"])
      digest = Base.encode16(:crypto.hash(:sha256, got["b"]), case: :lower)

      assert SnakeBridge.eval(check, scope, @rt) ==
               {:ok, {Enum.sum(-5..(n - 6)), n, digest, 1 <<< 19, "é", 99_999, 100_000}}
    end

    test "the same session always goes to the same worker" do
      rt = [__runtime__: [pool_name: @pool, session_id: "affinity-1"]]
      pids = for _ <- 1..20, do: pid_of(rt)
      assert length(Enum.uniq(pids)) == 1
    end

    test "without a session, concurrent calls go to the least busy worker" do
      code = "__import__('time').sleep(0.5) or __import__('os').getpid()"
      first = Task.async(fn -> SnakeBridge.eval!(code, %{}, @rt) end)
      # the first call is in flight on one worker before the second is made
      wait_until(fn -> Enum.any?(Pool.nodes(@pool), &(busy(&1) == 1)) end)
      second = Task.async(fn -> SnakeBridge.eval!(code, %{}, @rt) end)
      assert Task.await(first) != Task.await(second)
    end

    test "refs and streams route to their worker, from any process" do
      {:ok, frac} = SnakeBridge.call("fractions", "Fraction", [3, 4], @rt)
      {:ok, range} = SnakeBridge.call("builtins", "range", [10], @rt)
      {:ok, counter} = SnakeBridge.call("itertools", "count", [1], @rt)

      result =
        Task.async(fn ->
          {Ref.getattr(frac, "denominator"), Ref.method(frac, "as_integer_ratio"),
           Enum.take(range, 5), Enum.sum(range), Enum.take(counter, 3),
           Runtime.stream_next(counter), Runtime.stream_next_batch(counter, 3),
           StreamRef.next(counter), Enum.count(range)}
        end)
        |> Task.await()

      assert result ==
               {{:ok, 4}, {:ok, {3, 4}}, [0, 1, 2, 3, 4], 45, [1, 2, 3], {:ok, 4},
                {:ok, [5, 6, 7]}, {:ok, 8}, 10}

      assert :ok = Ref.setattr(SnakeBridge.call!("types", "SimpleNamespace", [], @rt), "a", 1)
      assert Ref.repr(frac) == "Fraction(3, 4)"
      assert inspect(frac) == "#SnakeBridge.Ref<Fraction(3, 4)>"
      # passed back as an argument of a call in the pool: the same object, on its worker
      assert {:ok, %Ref{} = sum} = SnakeBridge.call("operator", "add", [frac, 1], @rt)
      assert Pool.node_of(sum) == Pool.node_of(frac)
      assert Ref.repr(sum) == "Fraction(7, 4)"
    end

    test "a ref passed to a call that runs elsewhere is a clear error" do
      [a, b] = Pool.nodes(@pool)
      on_a = session_on(a)
      on_b = session_on(b)

      {:ok, ref} =
        SnakeBridge.call("fractions", "Fraction", [1, 2],
          __runtime__: [pool_name: @pool, session_id: on_a]
        )

      assert Pool.node_of(ref) == a

      # the ref decides the worker when the call names no session
      assert {:ok, _} = SnakeBridge.call("operator", "add", [ref, 1], @rt)

      assert {:error, {:ref_on_other_node, ^a, ^b}} =
               SnakeBridge.call("operator", "add", [ref, 1],
                 __runtime__: [pool_name: @pool, session_id: on_b]
               )

      me = node()

      assert {:error, {:ref_on_other_node, ^a, ^me}} =
               SnakeBridge.call("operator", "add", [ref, 1])
    end

    test "the wire format names the node that owns a stream" do
      {:ok, it} = SnakeBridge.call("builtins", "iter", [[1, 2]], @rt)
      assert %{"node" => node} = StreamRef.to_wire_format(it)
      assert node == Atom.to_string(Pool.node_of(it))
      assert {:ok, 1} = StreamRef.next(it)

      # read back on this node: the same stream, on its worker
      assert {:ok, again} = StreamRef.from_wire_format(StreamRef.to_wire_format(it))
      assert Pool.node_of(again) == Pool.node_of(it)
      assert {:ok, 2} = StreamRef.next(again)
    end

    test "timeouts stop the Python code on the worker" do
      t0 = System.monotonic_time(:millisecond)

      # (an endless Python loop: time.sleep in C could not be interrupted)
      assert {:error, :timeout} =
               SnakeBridge.eval("sum(1 for _ in iter(int, 1))", %{},
                 __runtime__: [pool_name: @pool, timeout: 200]
               )

      assert System.monotonic_time(:millisecond) - t0 < 2_000
    end

    test "the caller's death cancels its call on the worker" do
      [a, _] = Pool.nodes(@pool)
      rt = [__runtime__: [pool_name: @pool, session_id: session_on(a)]]
      parent = self()

      caller =
        spawn(fn ->
          send(parent, :calling)
          SnakeBridge.eval("sum(1 for _ in iter(int, 1))", %{}, rt)
        end)

      assert_receive :calling
      wait_until(fn -> busy(a) == 1 end)
      ref = Process.monitor(caller)
      Process.exit(caller, :kill)
      assert_receive {:DOWN, ^ref, _, _, _}
      wait_until(fn -> busy(a) == 0 end)
    end
  end

  describe "output and callbacks" do
    test "what Python prints on a worker goes to the caller's group leader" do
      assert capture_io(fn ->
               assert {:ok, nil} = SnakeBridge.call("builtins", "print", ["from a worker"], @rt)
             end) == "from a worker\n"
    end

    test "an Elixir function given to Python runs in a process of the caller's, on its node" do
      me = self()
      fun = fn x -> {x * 2, hd(Process.get(:"$callers")) == me, node()} end
      assert {:ok, m} = SnakeBridge.call("builtins", "map", [fun, [1, 2]], @rt)
      me = Atom.to_string(node())
      assert Enum.to_list(m) == [{2, true, me}, {4, true, me}]
    end
  end

  describe "stream/5 across nodes" do
    test "every item, in order" do
      {:ok, agent} = Agent.start_link(fn -> [] end)

      assert :ok =
               SnakeBridge.stream("builtins", "range", [10_000], @rt, fn x ->
                 Agent.update(agent, &[x | &1])
               end)

      assert Enum.reverse(Agent.get(agent, & &1)) == Enum.to_list(0..9_999)
    end

    test ":halt stops the producer and leaves no message behind" do
      rt = [__runtime__: [pool_name: @pool, stream_chunk: 10, stream_window: 2]]

      assert :ok =
               SnakeBridge.stream("itertools", "count", [], rt, fn x ->
                 if x >= 25, do: :halt, else: :ok
               end)

      refute_received _
    end

    test "a callback that raises stops the producer on the worker; the error reaches the caller" do
      rt = [__runtime__: [pool_name: @pool, stream_chunk: 10]]

      assert_raise RuntimeError, "boom at 15", fn ->
        SnakeBridge.stream("itertools", "count", [], rt, fn
          15 -> raise "boom at 15"
          _ -> :ok
        end)
      end

      refute_received _
    end

    test "a timeout stops the stream" do
      rt = [__runtime__: [pool_name: @pool, stream_timeout: 300]]
      t0 = System.monotonic_time(:millisecond)

      assert {:error, :timeout} =
               SnakeBridge.stream("itertools", "count", [], rt, fn _ -> Process.sleep(1) end)

      assert System.monotonic_time(:millisecond) - t0 < 2_000
      refute_received _
    end

    test "backpressure: the producer waits for the caller's acks" do
      rt = [__runtime__: [pool_name: @pool, stream_chunk: 1, stream_window: 2, session_id: "bp1"]]
      {:ok, produced} = SnakeBridge.eval("__import__('itertools').count()", %{}, rt)
      parent = self()

      task =
        Task.async(fn ->
          SnakeBridge.stream("builtins", "iter", [produced], rt, fn x ->
            send(parent, {:item, x})
            receive do: (:go -> :ok)
          end)
        end)

      assert_receive {:item, 0}, 5_000
      # The callback holds item 0: at most window (2) batches are sent unacknowledged,
      # so the shared counter cannot have run far ahead.
      {:ok, next} = Runtime.stream_next(produced)
      assert next < 10
      Task.shutdown(task, :brutal_kill)
    end
  end

  describe "lifetimes" do
    test "a remote ref lives until the BEAM collects it on the holder's node" do
      [a, _] = Pool.nodes(@pool)
      rt = [__runtime__: [pool_name: @pool, session_id: session_on(a, "life")]]
      # objects tagged for this test only: nothing else counts
      assert namespaces(a, "life") == 0
      parent = self()

      holder =
        spawn(fn ->
          receive do
            {:refs, refs} ->
              send(parent, {:holding, length(refs)})
              receive do: (:drop -> :ok)
              :erlang.garbage_collect()
              send(parent, :dropped)
              receive do: (:exit -> :ok)
          end
        end)

      # made by a process that exits, held by another one
      maker =
        spawn(fn ->
          refs =
            for i <- 1..2_000,
                do: SnakeBridge.call!("types", "SimpleNamespace", [], [i: i, tag: "life"] ++ rt)

          send(holder, {:refs, refs})
        end)

      ref = Process.monitor(maker)
      assert_receive {:DOWN, ^ref, _, _, _}, 30_000
      assert_receive {:holding, 2_000}, 30_000
      :erlang.garbage_collect()
      assert namespaces(a, "life") == 2_000

      # the holder drops them and collects: released on the worker, although it lives on
      send(holder, :drop)
      assert_receive :dropped
      wait_until(fn -> namespaces(a, "life") == 0 end)
      send(holder, :exit)
    end

    test "a remote ref is released when its session is released" do
      {:ok, session} = SnakeBridge.Session.start(pool_name: @pool)
      rt = [__runtime__: [pool_name: @pool, session_id: session]]
      {:ok, frac} = SnakeBridge.call("fractions", "Fraction", [1, 3], rt)
      assert {:ok, 3} = Ref.getattr(frac, "denominator")
      :ok = SnakeBridge.Session.release(session)
      assert {:error, :released} = Ref.getattr(frac, "denominator")

      # and when its owner exits
      parent = self()

      owner =
        spawn(fn ->
          {:ok, s} = SnakeBridge.Session.start(pool_name: @pool)

          send(
            parent,
            {:ref,
             SnakeBridge.call!("fractions", "Fraction", [1, 5],
               __runtime__: [pool_name: @pool, session_id: s]
             )}
          )
        end)

      assert_receive {:ref, five}
      mref = Process.monitor(owner)
      assert_receive {:DOWN, ^mref, _, _, _}
      wait_until(fn -> Ref.getattr(five, "denominator") == {:error, :released} end)
    end
  end

  describe "crash isolation" do
    setup do
      :ok = Pool.start(:crashy, peers: 1)
      :ok = Pool.ready(:crashy, 60_000)
      on_exit(fn -> Pool.stop(:crashy) end)
    end

    test "a worker that dies fails the calls in flight at once, its refs after, and comes back" do
      crt = [__runtime__: [pool_name: :crashy]]
      [old] = Pool.nodes(:crashy)
      {:ok, frac} = SnakeBridge.call("fractions", "Fraction", [1, 3], crt)
      {:ok, counter} = SnakeBridge.call("itertools", "count", [], crt)
      parent = self()

      in_flight =
        for _ <- 1..3 do
          Task.async(fn ->
            send(parent, :sent)
            r = SnakeBridge.call("time", "sleep", [30], crt)
            {r, System.monotonic_time(:millisecond)}
          end)
        end

      for _ <- 1..3, do: assert_receive(:sent)
      wait_until(fn -> busy(old) == 3 end)
      t0 = System.monotonic_time(:millisecond)
      assert {:error, {:worker_down, _}} = SnakeBridge.call("os", "_exit", [1], crt)

      for {result, t} <- Task.await_many(in_flight, 5_000) do
        assert {:error, {:worker_down, _}} = result
        assert t - t0 < 1_000
      end

      assert {:error, {:worker_down, _}} = Ref.getattr(frac, "numerator")
      assert {:error, {:worker_down, _}} = Runtime.stream_next(counter)
      assert_raise SnakeBridge.Error, ~r/worker is down/, fn -> Enum.take(counter, 1) end

      # the other pool never noticed
      assert is_integer(pid_of())

      :ok = Pool.ready(:crashy, 60_000)
      [new] = Pool.nodes(:crashy)
      assert new != old
      assert {:ok, 2.0} = SnakeBridge.call("math", "sqrt", [4], crt)
      assert {:error, {:worker_down, _}} = Ref.getattr(frac, "numerator")
    end

    test "a segfault in a C extension on a worker is worker_down, and the pool restarts it" do
      crt = [__runtime__: [pool_name: :crashy]]
      [old] = Pool.nodes(:crashy)
      {:ok, frac} = SnakeBridge.call("fractions", "Fraction", [1, 3], crt)

      assert {:error, {:worker_down, _}} = SnakeBridge.call("ctypes", "string_at", [0], crt)
      assert {:error, {:worker_down, _}} = Ref.method(frac, "as_integer_ratio")
      :ok = Pool.ready(:crashy, 60_000)
      assert [new] = Pool.nodes(:crashy)
      assert new != old
      assert {:ok, 3} = SnakeBridge.call("operator", "add", [1, 2], crt)
    end

    test "kill -9 of a worker's OS process fails its calls in flight within 1 s" do
      crt = [__runtime__: [pool_name: :crashy]]
      [worker] = Pool.nodes(:crashy)
      os_pid = :erpc.call(worker, System, :pid, [])
      parent = self()

      task =
        Task.async(fn ->
          send(parent, :sent)
          result = SnakeBridge.eval("sum(1 for _ in iter(int, 1))", %{}, crt)
          {result, System.monotonic_time(:millisecond)}
        end)

      assert_receive :sent
      wait_until(fn -> busy(worker) == 1 end)
      {_, 0} = System.cmd("kill", ["-9", os_pid])
      # From the moment the kill is done (starting the kill command is not the library's
      # time: on a loaded machine it alone took over a second).
      t0 = System.monotonic_time(:millisecond)
      assert {{:error, {:worker_down, _}}, t} = Task.await(task, 5_000)
      assert t - t0 < 1_000
      :ok = Pool.ready(:crashy, 60_000)
      assert {:ok, 2} = SnakeBridge.call("operator", "add", [1, 1], crt)
    end

    test "a stream/5 whose worker dies returns worker_down" do
      crt = [__runtime__: [pool_name: :crashy]]

      assert {:error, {:worker_down, _}} =
               SnakeBridge.stream("itertools", "count", [], crt, fn
                 100 ->
                   SnakeBridge.call("os", "_exit", [1], crt)
                   :ok

                 _ ->
                   :ok
               end)

      refute_received _
    end
  end

  describe "starting" do
    test "a call to a pool whose workers are still starting waits for one" do
      :ok = Pool.start(:starting, peers: 1)
      on_exit(fn -> Pool.stop(:starting) end)
      # (an interpreter takes far longer to start than this call to be made)
      assert Pool.nodes(:starting) == []

      assert {:ok, 2.0} =
               SnakeBridge.call("math", "sqrt", [4], __runtime__: [pool_name: :starting])

      assert [_] = Pool.nodes(:starting)
    end

    test "it waits at most its own timeout, or the pool's wait:, then says the pool is starting" do
      :ok = Pool.start(:slow_start, peers: 1)
      on_exit(fn -> Pool.stop(:slow_start) end)
      t0 = System.monotonic_time(:millisecond)

      assert {:error, {:worker_down, :starting}} =
               SnakeBridge.call("math", "sqrt", [4],
                 __runtime__: [pool_name: :slow_start, timeout: 50]
               )

      waited = System.monotonic_time(:millisecond) - t0
      assert waited >= 50 and waited < 2_000

      :ok = Pool.start(:no_wait, peers: 1, wait: 0)
      on_exit(fn -> Pool.stop(:no_wait) end)

      assert {:error, {:worker_down, :starting}} =
               SnakeBridge.call("math", "sqrt", [4], __runtime__: [pool_name: :no_wait])

      # a stream/5 and a session on a starting pool wait too
      :ok = Pool.start(:starting_streams, peers: 1)
      on_exit(fn -> Pool.stop(:starting_streams) end)
      me = self()

      assert :ok =
               SnakeBridge.stream(
                 "builtins",
                 "range",
                 [3],
                 [__runtime__: [pool_name: :starting_streams]],
                 fn x -> send(me, {:item, x}) && :ok end
               )

      for i <- 0..2, do: assert_received({:item, ^i})
    end

    test "calls routed to a worker that restarts wait for its successor" do
      :ok = Pool.start(:restarting, peers: 1)
      on_exit(fn -> Pool.stop(:restarting) end)
      :ok = Pool.ready(:restarting, 60_000)
      [old] = Pool.nodes(:restarting)
      {:ok, session} = SnakeBridge.Session.start(pool_name: :restarting)
      rt = [__runtime__: [session_id: session]]

      :ok = :net_kernel.monitor_nodes(true, node_type: :all)
      assert {:error, {:worker_down, _}} = SnakeBridge.call("os", "_exit", [1], rt)
      assert_receive {:nodedown, ^old, _}, 10_000

      # (no Pool.ready/2: the call waits for the new worker)
      assert {:ok, pid} = SnakeBridge.call("os", "getpid", [], rt)
      assert is_integer(pid)
      assert [new] = Pool.nodes(:restarting)
      assert new != old
      :ok = :net_kernel.monitor_nodes(false, node_type: :all)
    end

    test "options of a pool are checked" do
      assert_raise ArgumentError, ~r/:nope must be one of :start_timeout, :wait, :spin_us/, fn ->
        Pool.start(:bad_opts, peers: 1, nope: 1)
      end

      assert_raise ArgumentError, ~r/:wait must be a non-negative integer, got: -1/, fn ->
        Pool.start(:bad_opts, peers: 1, wait: -1)
      end

      assert_raise ArgumentError, ~r/must be \[peers: n\]/, fn ->
        Pool.start(:bad_opts, peers: 0)
      end

      refute :bad_opts in Pool.pools()
    end
  end

  describe "names" do
    test "a pool_name that names no pool raises, naming the pools there are" do
      message = ~r/no pool named :pool_tset: the pools are \[.*:pool_test.*\]/

      assert_raise ArgumentError, message, fn ->
        SnakeBridge.call("math", "sqrt", [4], __runtime__: [pool_name: :pool_tset])
      end

      assert_raise ArgumentError, message, fn ->
        SnakeBridge.stream(
          "builtins",
          "range",
          [3],
          [__runtime__: [pool_name: :pool_tset]],
          fn _ -> :ok end
        )
      end

      assert_raise ArgumentError, message, fn ->
        SnakeBridge.Session.start(pool_name: :pool_tset)
      end

      # a pool's name as a string names it
      assert pid_of(__runtime__: [pool_name: "pool_test"]) != String.to_integer(System.pid())
    end

    test "a session started on a pool takes the calls that give only its id there" do
      {:ok, session} = SnakeBridge.Session.start(pool_name: @pool)
      rt = [__runtime__: [session_id: session]]
      pid = pid_of(rt)
      assert pid != String.to_integer(System.pid())
      assert pid == pid_of(__runtime__: [pool_name: @pool, session_id: session])
      {:ok, ref} = SnakeBridge.call("fractions", "Fraction", [1, 3], rt)
      assert Pool.node_of(ref) in Pool.nodes(@pool)
      assert SnakeBridge.Session.with_session(session, fn -> pid_of([]) end) == pid

      # released: the id names no pool any more
      :ok = SnakeBridge.Session.release(session)
      assert SnakeBridge.Pool.Sessions.pool_of(session) == nil

      # and when its owner exits
      parent = self()

      owner =
        spawn(fn ->
          {:ok, s} = SnakeBridge.Session.start(pool_name: @pool)
          send(parent, {:session, s})
        end)

      assert_receive {:session, s}
      mref = Process.monitor(owner)
      assert_receive {:DOWN, ^mref, _, _, _}
      wait_until(fn -> SnakeBridge.Pool.Sessions.pool_of(s) == nil end)
    end
  end

  describe "a routing-only node (embedded: false)" do
    test "routes calls from its processes to a pool and runs no Python itself" do
      [worker | _] = Pool.nodes(@pool)
      paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])

      {:ok, peer, router} =
        :peer.start_link(%{name: :"router_#{System.unique_integer([:positive])}", args: paths})

      try do
        :ok = :erpc.call(router, :application, :load, [:snakebridge])
        :ok = :erpc.call(router, :application, :set_env, [:snakebridge, :embedded, false])

        :ok =
          :erpc.call(router, :application, :set_env, [
            :snakebridge,
            :pools,
            [remote: [nodes: [worker]]]
          ])

        {:ok, _} = :erpc.call(router, :application, :ensure_all_started, [:snakebridge])

        rt = [__runtime__: [pool_name: :remote]]
        worker_pid = :erpc.call(worker, System, :pid, [])

        # two processes on the router, at once
        results =
          for i <- 1..2 do
            Task.async(fn -> :erpc.call(router, SnakeBridge, :call, ["os", "getpid", [], rt]) end)
            |> then(&{i, &1})
          end
          |> Enum.map(fn {_, t} -> Task.await(t, 10_000) end)

        assert results == [
                 {:ok, String.to_integer(worker_pid)},
                 {:ok, String.to_integer(worker_pid)}
               ]

        assert {:error, :not_embedded} =
                 :erpc.call(router, SnakeBridge, :call, ["os", "getpid", []])

        refute :erpc.call(router, SnakeBridge.Pool, :embedded?, [])

        # objects held on the router live while it does, and go when it goes away
        make = "[__import__('types').SimpleNamespace(tag='router') for _ in range(50)]"
        {:ok, _agent} = :erpc.call(router, Agent, :start, [SnakeBridge, :eval!, [make, %{}, rt]])
        :erlang.garbage_collect()
        assert namespaces(worker, "router") == 50
        :peer.stop(peer)
        wait_until(fn -> namespaces(worker, "router") == 0 end)
      after
        if Process.alive?(peer), do: :peer.stop(peer)
      end
    end
  end

  defp busy(node), do: :erpc.call(node, SnakeBridge.Runtime, :thread_stats, []).calls.busy

  defp namespaces(node, tag) do
    code = """
    sum(1 for o in __import__('gc').get_objects()
        if type(o).__name__ == 'SimpleNamespace' and getattr(o, 'tag', None) == tag)
    """

    :erpc.call(node, SnakeBridge, :eval!, [code, %{"tag" => tag}])
  end

  # Polls a condition the test cannot get a message for (state on another node).
  defp wait_until(fun, left \\ 500) do
    cond do
      fun.() -> :ok
      left == 0 -> flunk("condition not reached")
      true -> Process.sleep(10) && wait_until(fun, left - 1)
    end
  end
end
