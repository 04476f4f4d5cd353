defmodule SnakeBridge.InteractionTest do
  # Every way to stop a job crossed with every place a job can be. One generated test
  # per cell (stop kind x place); each checks, and reports together:
  #
  #   * the target stops: its call answers on time with the stop's error (a killed caller
  #     just dies), and its Python code ends (its `finally` runs; a queued job never
  #     starts; code blocked in C ends when the C call returns, without going on);
  #   * only the target stops: 40 concurrent unrelated calls (no timeout) all succeed,
  #     and so do the jobs that kept the threads busy;
  #   * the library's threads are free afterwards (Runtime.thread_stats/0);
  #   * Python's object count (gc-tracked objects) returns to where it started.
  #
  # Synchronisation is by messages: the Python code reports (snakebridge.send) when it
  # reached its place, when code after the place ran ("completed", which a stop must
  # prevent) and when its `finally` ran; an Elixir callback reports itself. Only bounds
  # are times (they fail a cell, never order it), with margins for a loaded 2-core machine.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers
  alias SnakeBridge.{Pool, Runtime, Session}

  @moduletag :pools
  @moduletag timeout: 120_000
  @moduletag capture_log: true

  @lib "sb_interact"
  # Two one-worker pools: a worker-death cell takes whichever is up while the other one
  # restarts after an earlier cell.
  @pools [:interact_a, :interact_b]

  # The timeout of the `:timeout` stop (long enough for the target to reach its place on
  # a loaded machine first; a cell whose target answered before that fails, it does not
  # pass by accident).
  @deadline 500
  # How late a stop may be seen (an answer, a `finally`, a free thread). The targets on
  # the fixed code take milliseconds; this is the margin for a loaded 2-core machine.
  @margin 2_000
  # An Elixir callback of the `:callback` place waits for the test at most this long.
  @callback_hold 10_000
  # Unrelated calls: each a little Python work and a 150 ms wait in C, so that 40 of them
  # keep every call thread busy (and some queued) across the stop.
  @unrelated 40
  @unrelated_loop 20_000
  @unrelated_pause 0.15
  # gc-tracked objects a cell may leave (caches the interpreter fills on its own: 0-6
  # measured in most cells, 11-29 now and then after a session release of a coroutine,
  # with none of the jobs' own objects left). Too coarse for one job left behind (a
  # suspended generator is one object), so the count of the jobs' own generators,
  # coroutines and events must come back exactly.
  @object_slack 40

  # The stops, and what the target's caller then gets:
  #   :timeout          `__runtime__: [timeout: @deadline]` (`stream_timeout:` for
  #                     stream/5, `timeout:` for stream_next): `{:error, :timeout}`
  #   :caller_death     `Process.exit(caller, :kill)`: nothing (it is dead)
  #   :session_release  `Session.release/1` of the target's session: an error (which one
  #                     is not specified yet); release itself returns on time. This
  #                     reads "a session releases everything it made at once" as
  #                     covering its work in flight.
  #   :worker_death     the pool worker's node halts: `{:error, {:worker_down, _}}`
  @stops [:timeout, :caller_death, :session_release, :worker_death]

  # The places, and the signal that the target is there:
  #   :queued        every thread it could run on holds a blocker (waiting in C); the
  #                  pool's `queued` count shows it waiting
  #   :bytecode      a pure-Python loop (`started`)
  #   :c_call        `threading.Event.wait()`, a lock acquire in C (`started`)
  #   :callback      Python calls an Elixir function given as an argument, which waits
  #                  for the test (the function says `in_callback`; which process runs
  #                  it is not asserted)
  #   :coroutine     awaiting a future that never completes (`started`)
  #   :backpressure  a stream/5 producer with one 1-item batch unacknowledged, its
  #                  callback slow (100 ms an item): item 1 made, it waits for acks
  #   :stream_next   inside `Runtime.stream_next/2` of a generator the test and another
  #                  process share, spinning in its code (`started`); the other process
  #                  waits for the next item and must get an error, not hang
  @places [:queued, :bytecode, :c_call, :callback, :coroutine, :backpressure, :stream_next]

  # Which cells are skipped, and why (the rule). Each stop kind decides where its target
  # runs: `:session_release` makes the target (and its blockers, generator, stream)
  # under a thread-affine session that the test releases; `:worker_death` runs it on a
  # pool worker whose node is halted; `:timeout` and `:caller_death` run it here,
  # outside any session. A cell is skipped only when its place cannot exist in that
  # context (for example, a job made outside any session cannot be stopped by a session
  # release). Every place of @places can be reached in every context, so this list is
  # empty today: a place added later that cannot goes here with its reason, and its
  # cell is then generated with `@tag skip: reason` (shown as skipped, never dropped).
  @not_applicable %{}

  setup_all do
    SnakeBridge.TestDistribution.start!()

    for pool <- @pools, do: :ok = Pool.start(pool, peers: 1)
    for pool <- @pools, do: :ok = Pool.ready(pool, 120_000)
    on_exit(fn -> for pool <- @pools, do: Pool.stop(pool) end)

    # (In a process of its own: the handles it made go with it.)
    Task.await(Task.async(&warm_up/0), 30_000)
    :ok
  end

  for stop <- @stops, place <- @places do
    @tag stop: stop, place: place
    if reason = @not_applicable[{stop, place}], do: @tag(skip: reason)

    test "#{stop} x #{place}" do
      run_cell(unquote(stop), unquote(place))
    end
  end

  # ------------------------------------------------------------------------- a cell

  defp run_cell(stop, place) do
    assert eventually(&idle?/0, timeout: 15_000), "busy before the cell: #{inspect(stats())}"
    before = object_count()

    # The cell runs in a process of its own: the handles it makes (the shared
    # generator's among them) go with it, so the count afterwards sees only what Python
    # itself kept.
    failures = Task.async(fn -> cell(stop, place) end) |> Task.await(:infinity)

    [total, own] = count_back_to(before)
    [total_before, own_before] = before

    failures =
      failures ++
        if(total - total_before > @object_slack,
          do: ["object count back to its start: #{total_before} -> #{total} gc-tracked objects"],
          else: []
        ) ++
        if(own > own_before,
          do: ["no generator, coroutine or event of a job left: #{own_before} -> #{own}"],
          else: []
        )

    assert failures == [],
           "#{stop} x #{place}:\n" <> Enum.map_join(failures, "\n", &"  - #{&1}")
  end

  defp cell(stop, place) do
    st = %{
      stop: stop,
      place: place,
      ctx: context(stop),
      tag: "#{stop}-#{place}-#{System.unique_integer([:positive])}",
      test: self(),
      failures: [],
      stop_failed: false,
      blockers: [],
      caller: nil,
      callback_pid: nil,
      release_task: nil,
      unrelated: [],
      monitor: nil,
      started_at: nil,
      stopped_at: nil,
      gen: nil,
      sharer: nil
    }

    st =
      try do
        st
        |> prepare()
        |> start_target()
        |> await_place()
        |> start_unrelated()
        |> do_stop()
        |> check_outcome()
        |> check_python_stopped()
        |> release_blockers()
        |> check_unrelated()
        |> check_c_call_ends()
        |> check_threads_free()
        |> check_never_ran()
      after
        cleanup(st_or(st))
      end

    st =
      check(
        st,
        "threads free after the cleanup",
        eventually(&idle?/0, timeout: 10_000),
        fn -> inspect(stats()) end
      )

    Enum.reverse(st.failures)
  end

  # (`try` rebinds nothing in `after`: the state there is the one of the last step
  # reached, kept in the process dictionary.)
  defp st_or(st), do: Process.get(:cell_state, st)

  defp keep(st) do
    Process.put(:cell_state, st)
    st
  end

  defp check(st, _what, true, _detail), do: keep(st)

  defp check(st, what, _false, detail) do
    keep(%{st | failures: ["#{what}: #{detail.()}" | st.failures]})
  end

  # Once the target was not stopped, what follows is reported with a short bound (it
  # would fail anyway; the cell should not take seconds more).
  defp bound(%{stop_failed: true}, ms), do: min(ms, 500)
  defp bound(_st, ms), do: ms

  defp stop_failed(%{failures: []} = st), do: st
  defp stop_failed(st), do: keep(%{st | stop_failed: true})

  # ---------------------------------------------------------------- the contexts

  defp context(:session_release) do
    {:ok, session} = Session.start(affinity: :thread)
    %{rt: [session_id: session], session: session, worker: nil, report: self(), pool: nil}
  end

  defp context(:worker_death) do
    pool = up_pool()
    [worker] = Pool.nodes(pool)
    rt = [pool_name: pool]
    dir = Path.expand("support/python", __DIR__)
    code = "import sys\nif p not in sys.path: sys.path.insert(0, p)"
    {:ok, _} = SnakeBridge.eval(code, %{"p" => dir}, __runtime__: rt ++ [timeout: 10_000])
    # Python on a worker can send only to processes of the worker: a relay there
    # forwards its reports to the test.
    %{rt: rt, session: nil, worker: worker, report: relay(worker, self()), pool: pool}
  end

  defp context(_local), do: %{rt: [], session: nil, worker: nil, report: self(), pool: nil}

  # A pool whose worker is up (the other one may be restarting after an earlier cell).
  defp up_pool do
    up? = fn -> Enum.any?(@pools, &(Pool.nodes(&1) != [])) end
    assert eventually(up?, timeout: 120_000), "no worker came back"
    Enum.find(@pools, &(Pool.nodes(&1) != []))
  end

  defp relay(worker, to) do
    code = "spawn(fn -> f = fn f -> receive do m -> send(to, m); f.(f) end end; f.(f) end)"
    {pid, _} = :erpc.call(worker, Code, :eval_string, [code, [to: to]])
    pid
  end

  # ----------------------------------------------------------------- the places

  # Queued behind busy threads: every thread the target could run on holds a blocker
  # (waiting in C), then the target is submitted.
  defp prepare(%{place: :queued, ctx: ctx, tag: tag} = st) do
    n =
      cond do
        ctx.session -> 1
        ctx.worker -> :erpc.call(ctx.worker, Runtime, :thread_stats, []).calls.max
        true -> Runtime.thread_stats().calls.max
      end

    btag = tag <> "-hold"

    blockers =
      for i <- 1..n do
        Task.async(fn ->
          SnakeBridge.call(@lib, "hold", [ctx.report, btag, i], __runtime__: ctx.rt)
        end)
      end

    for i <- 1..n, do: assert_receive({^btag, "held", ^i}, 15_000)
    keep(%{st | blockers: blockers})
  end

  # A generator shared by three processes: the test takes its first item; the target
  # is then inside the next step, and a second process waits for the step after.
  defp prepare(%{place: :stream_next, ctx: ctx, tag: tag} = st) do
    {:ok, gen} = SnakeBridge.call(@lib, "shared_gen", [ctx.report, tag], __runtime__: ctx.rt)
    {:ok, 0} = Runtime.stream_next(gen)
    keep(%{st | gen: gen})
  end

  defp prepare(st), do: keep(st)

  defp start_target(%{tag: tag, test: test} = st) do
    op = target_op(st)

    caller =
      spawn(fn ->
        t0 = now()
        result = op.()
        send(test, {tag, :result, result, now() - t0})
      end)

    keep(%{st | caller: caller, monitor: Process.monitor(caller), started_at: now()})
  end

  defp target_op(%{place: place, ctx: ctx, tag: tag, test: test, stop: stop} = st) do
    timeout = if stop == :timeout, do: [timeout: @deadline], else: []
    opts = [__runtime__: ctx.rt ++ timeout]
    args = [ctx.report, tag]

    case place do
      :queued ->
        fn -> SnakeBridge.call(@lib, "mark_started", args, opts) end

      :bytecode ->
        fn -> SnakeBridge.call(@lib, "spin", args, opts) end

      :c_call ->
        fn -> SnakeBridge.call(@lib, "blocked_in_c", args, opts) end

      :callback ->
        # Runs wherever the library runs callbacks: says so, then waits for the test.
        fun = fn ->
          send(test, {tag, "in_callback", self()})

          receive do
            {:go, ^tag} -> :ok
          after
            @callback_hold -> :late
          end
        end

        fn -> SnakeBridge.call(@lib, "call_back", args ++ [fun], opts) end

      :coroutine ->
        fn -> SnakeBridge.call(@lib, "awaiting", args, opts) end

      :backpressure ->
        # One item per batch, one batch unacknowledged: with a slow callback the
        # producer waits for acks.
        timeout = if stop == :timeout, do: [stream_timeout: @deadline], else: []
        rt = ctx.rt ++ [stream_chunk: 1, stream_window: 1] ++ timeout

        callback = fn item ->
          if item == 0, do: send(test, {tag, "in_callback", self()})
          Process.sleep(100)
        end

        fn -> SnakeBridge.stream(@lib, "produce", args, [__runtime__: rt], callback) end

      :stream_next ->
        gen = st.gen
        fn -> Runtime.stream_next(gen, timeout) end
    end
  end

  defp await_place(%{place: :queued, ctx: ctx} = st) do
    queued = fn ->
      stats =
        cond do
          ctx.session -> Runtime.thread_stats().lanes
          ctx.worker -> :erpc.call(ctx.worker, Runtime, :thread_stats, []).calls
          true -> Runtime.thread_stats().calls
        end

      stats.queued >= 1
    end

    assert eventually(queued, timeout: 10_000), "the target was never seen queued"
    keep(st)
  end

  defp await_place(%{place: :callback, tag: tag} = st) do
    pid = reached(tag, "in_callback")
    keep(%{st | callback_pid: pid})
  end

  defp await_place(%{place: :backpressure, tag: tag} = st) do
    reached(tag, "in_callback")
    # Item 0 unacknowledged (its callback is slow), item 1 made: the producer waits.
    assert_receive {^tag, "produced", 1}, 10_000
    keep(st)
  end

  defp await_place(%{place: :stream_next, tag: tag, test: test, gen: gen} = st) do
    reached(tag, "started")

    sharer =
      spawn(fn ->
        send(test, {tag, :sharer_calling})
        send(test, {tag, :sharer_result, Runtime.stream_next(gen)})
      end)

    assert_receive {^tag, :sharer_calling}, 10_000
    keep(%{st | sharer: sharer})
  end

  defp await_place(%{tag: tag} = st) do
    reached(tag, "started")
    keep(st)
  end

  defp reached(tag, what) do
    receive do
      {^tag, ^what} -> nil
      {^tag, ^what, pid} -> pid
      {^tag, :result, result, ms} -> flunk("answered #{inspect(result)} after #{ms} ms, first")
    after
      10_000 -> flunk("the target did not reach its place (#{what}) within 10 s")
    end
  end

  # ---------------------------------------------------------------- the stop

  defp start_unrelated(%{tag: tag, test: test} = st) do
    tasks =
      for i <- 1..@unrelated do
        Task.async(fn ->
          send(test, {tag, :submitting, i})
          SnakeBridge.call(@lib, "unrelated", [i, @unrelated_loop, @unrelated_pause])
        end)
      end

    for i <- 1..@unrelated, do: assert_receive({^tag, :submitting, ^i}, 10_000)
    keep(%{st | unrelated: tasks})
  end

  defp do_stop(%{stop: :timeout} = st), do: keep(%{st | stopped_at: st.started_at})

  defp do_stop(%{stop: :caller_death} = st) do
    Process.exit(st.caller, :kill)
    keep(%{st | stopped_at: now()})
  end

  defp do_stop(%{stop: :session_release, ctx: ctx} = st) do
    task = Task.async(fn -> Session.release(ctx.session) end)
    keep(%{st | release_task: task, stopped_at: now()})
  end

  defp do_stop(%{stop: :worker_death, ctx: ctx} = st) do
    :erpc.cast(ctx.worker, :erlang, :halt, [1, [flush: false]])
    keep(%{st | stopped_at: now()})
  end

  # ------------------------------------------------------------------ the checks

  defp check_outcome(%{stop: :caller_death, monitor: mon} = st) do
    receive do
      {:DOWN, ^mon, :process, _, :killed} -> keep(st)
    after
      @margin -> check(st, "the killed caller is down", false, fn -> "no DOWN" end)
    end
    |> stop_failed()
    |> check_sharer()
  end

  defp check_outcome(%{stop: stop, tag: tag} = st) do
    # The deadline counts from the call; the other stops from the stop.
    bound = if stop == :timeout, do: @deadline + @margin, else: @margin
    wait = max(bound - (now() - st.stopped_at), 0)

    st =
      receive do
        {^tag, :result, result, _ms} ->
          late = now() - st.stopped_at

          st
          |> check("the target's answer", expected?(stop, result), fn -> inspect(result) end)
          |> check("the target answers on time", late <= bound, fn ->
            "#{late} ms after the #{stop_name(stop)} (bound #{bound} ms)"
          end)
      after
        wait ->
          check(st, "the target answers on time", false, fn ->
            "no answer #{bound} ms after the #{stop_name(stop)}"
          end)
      end

    st |> check_release_returns() |> stop_failed() |> check_sharer()
  end

  defp stop_name(:timeout), do: "call (timeout #{@deadline} ms)"
  defp stop_name(stop), do: "#{stop}"

  defp expected?(:timeout, result), do: result == {:error, :timeout}
  defp expected?(:worker_death, result), do: match?({:error, {:worker_down, _}}, result)
  # What a released session's running job answers is not specified yet: any error.
  defp expected?(:session_release, result), do: match?({:error, _}, result)

  defp check_release_returns(%{release_task: nil} = st), do: st

  defp check_release_returns(%{release_task: task} = st) do
    left = max(@margin - (now() - st.stopped_at), 0)

    case Task.yield(task, left) do
      {:ok, result} ->
        check(st, "Session.release/1 returns :ok", result == :ok, fn -> inspect(result) end)

      nil ->
        check(st, "Session.release/1 returns on time", false, fn ->
          "still running #{@margin} ms after it was called"
        end)
    end
  end

  # The other process sharing the generator: the stop ends the generator for everyone,
  # with an error, never a hang or a timeout it did not ask for.
  defp check_sharer(%{place: :stream_next, tag: tag, stop: stop} = st) do
    receive do
      {^tag, :sharer_result, result} ->
        ok? =
          case stop do
            :worker_death -> match?({:error, {:worker_down, _}}, result)
            :session_release -> match?({:error, reason} when reason != :timeout, result)
            _ -> result == {:error, :stopped}
          end

        check(st, "the sharer's stream_next", ok?, fn -> inspect(result) end)
    after
      bound(st, @margin) ->
        check(st, "the sharer's stream_next answers", false, fn ->
          "no answer within #{bound(st, @margin)} ms of the target's end"
        end)
    end
  end

  defp check_sharer(st), do: st

  # Python code at a place where it can be stopped ends now (its `finally` runs).
  # (On a halted worker there is nothing left to report; a queued job and a C call are
  # checked later.)
  defp check_python_stopped(%{stop: :worker_death} = st), do: st
  defp check_python_stopped(%{place: place} = st) when place in [:queued, :c_call], do: st

  defp check_python_stopped(%{tag: tag} = st) do
    receive do
      {^tag, "finally"} ->
        check(st, "the Python code did not go on", not completed?(tag), fn ->
          "it ran past its place"
        end)
    after
      bound(st, @margin) ->
        check(st, "the Python code stops", false, fn ->
          "no `finally` #{bound(st, @margin)} ms after the answer"
        end)
    end
  end

  defp completed?(tag) do
    receive do
      {^tag, "completed"} -> true
    after
      0 -> false
    end
  end

  # The blockers of the queued place are ordinary work: here it completes normally
  # (under a released session, or on a halted worker, it may end with an error).
  defp release_blockers(%{place: :queued, ctx: ctx, tag: tag} = st) do
    unless ctx.worker, do: unblock(tag <> "-hold")
    results = Task.yield_many(st.blockers, 15_000)
    expect_ok? = ctx.session == nil and ctx.worker == nil

    ok? =
      Enum.all?(results, fn
        {_, {:ok, {:ok, _}}} -> true
        {_, {:ok, {:error, _}}} -> not expect_ok?
        _ -> false
      end)

    check(st, "the blockers", ok?, fn -> inspect(Enum.map(results, &elem(&1, 1))) end)
    |> Map.put(:blockers, [])
    |> keep()
  end

  defp release_blockers(st), do: st

  defp check_unrelated(%{unrelated: tasks} = st) do
    results = Task.yield_many(tasks, 30_000)

    bad =
      for {{_task, result}, i} <- Enum.with_index(results, 1),
          result != {:ok, {:ok, i * 2}},
          do: {i, result}

    st
    |> check("#{@unrelated} unrelated calls succeed", bad == [], fn ->
      timeouts = Enum.count(bad, &match?({_, {:ok, {:error, :timeout}}}, &1))
      "#{length(bad)} failed (#{timeouts} with {:error, :timeout}): #{inspect(Enum.take(bad, 5))}"
    end)
    |> Map.put(:unrelated, [])
    |> keep()
  end

  # Blocked in C: the caller did not wait for the C call; when it returns, the code
  # stops at once, without running what follows.
  defp check_c_call_ends(%{place: :c_call, ctx: %{worker: nil}, tag: tag} = st) do
    unblock(tag)

    receive do
      {^tag, "finally"} ->
        check(st, "the Python code did not go on after its C call", not completed?(tag), fn ->
          "it ran past its place"
        end)
    after
      bound(st, @margin) ->
        check(st, "the Python code stops once its C call returns", false, fn ->
          "no `finally` within #{bound(st, @margin)} ms"
        end)
    end
  end

  defp check_c_call_ends(st), do: st

  defp check_threads_free(st) do
    wait = bound(st, @margin)

    check(st, "the library's threads are free", eventually(&idle?/0, timeout: wait), fn ->
      "still #{inspect(stats())} #{wait} ms after the unrelated calls ended"
    end)
  end

  # A stopped queued job never runs, also once the threads are free again.
  defp check_never_ran(%{place: :queued, tag: tag} = st) do
    ran? =
      receive do
        {^tag, "started"} -> true
      after
        0 -> false
      end

    check(st, "the queued target never runs", not ran?, fn -> "it ran" end)
  end

  defp check_never_ran(st), do: st

  # ------------------------------------------------------------------ cleanup

  # Whatever failed: let every held thing go, so the next cell starts clean.
  defp cleanup(st) do
    if st.callback_pid, do: send(st.callback_pid, {:go, st.tag})
    if st.caller, do: Process.exit(st.caller, :kill)
    if st.sharer, do: Process.exit(st.sharer, :kill)

    if st.ctx.worker do
      # (Halted by the stop; also when the cell failed before it: its blockers wait in
      # C and would hold the worker's threads for ever.)
      :erpc.cast(st.ctx.worker, :erlang, :halt, [1, [flush: false]])
      # The next worker cell takes a worker the pool knows to be up.
      eventually(fn -> st.ctx.worker not in Pool.nodes(st.ctx.pool) end, timeout: 10_000)
    else
      unblock(st.tag)
      unblock(st.tag <> "-hold")
    end

    for task <- st.blockers ++ st.unrelated, do: Task.shutdown(task, :brutal_kill)
    if st.release_task, do: Task.shutdown(st.release_task, :brutal_kill)

    if st.ctx.session do
      task = Task.async(fn -> Session.release(st.ctx.session) end)
      Task.yield(task, 5_000) || Task.shutdown(task, :brutal_kill)
    end

    Process.delete(:cell_state)
  end

  # Through a stream/5 producer: the call threads may all be held.
  defp unblock(tag) do
    :ok = SnakeBridge.stream(@lib, "unblock", [tag], [], fn _ -> :ok end)
    :ok = SnakeBridge.stream(@lib, "forget", [tag], [], fn _ -> :ok end)
  end

  # ------------------------------------------------------------------ helpers

  defp now, do: System.monotonic_time(:millisecond)

  defp stats, do: Map.take(Runtime.thread_stats(), [:calls, :streams, :lanes])

  defp idle? do
    Enum.all?(stats(), fn {_, %{busy: busy, queued: queued}} -> busy == 0 and queued == 0 end)
  end

  defp object_count, do: SnakeBridge.call!(@lib, "object_count", [])

  defp count_back_to([total, own]) do
    back? = fn ->
      [t, o] = object_count()
      t <= total + @object_slack and o <= own
    end

    eventually(back?, gc: true, timeout: 5_000)
    object_count()
  end

  # Every code path a cell uses, once, so that what the interpreter caches on first use
  # is not counted as a leak.
  defp warm_up do
    me = self()
    object_count()
    {:ok, 2} = SnakeBridge.call(@lib, "unrelated", [1, 10, 0.0])
    {:ok, true} = SnakeBridge.call(@lib, "mark_started", [me, "warm"])
    {:ok, "ok"} = SnakeBridge.call(@lib, "call_back", [me, "warm", fn -> :ok end])

    :ok =
      SnakeBridge.stream(@lib, "produce", [me, "warm"], [], fn x ->
        if x >= 2, do: :halt, else: :ok
      end)

    {:ok, gen} = SnakeBridge.call(@lib, "shared_gen", [me, "warm"])
    {:ok, 0} = Runtime.stream_next(gen)
    # Every session thread (4 lanes: sessions open at once take different ones), so a
    # lane's first use (its Python frame) is not counted in a cell.
    sessions = for _ <- 1..4, do: elem(Session.start(affinity: :thread), 1)

    for session <- sessions do
      {:ok, _} = SnakeBridge.call(@lib, "object_count", [], __runtime__: [session_id: session])
    end

    Enum.each(sessions, &(:ok = Session.release(&1)))
    {:ok, true} = SnakeBridge.call(@lib, "unblock", ["warm"])
    {:ok, true} = SnakeBridge.call(@lib, "blocked_in_c", [me, "warm"])
    unblock("warm-hold")
    {:error, :timeout} = SnakeBridge.call(@lib, "spin", [me, "warm"], __runtime__: [timeout: 50])

    {:error, :timeout} =
      SnakeBridge.call(@lib, "awaiting", [me, "warm"], __runtime__: [timeout: 50])
  end
end
