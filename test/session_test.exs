defmodule SnakeBridge.SessionTest do
  # Sessions with thread affinity: thread-bound Python objects work from many processes,
  # and a session releases everything it made at once.
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers
  alias SnakeBridge.{Ref, Runtime, Session, StreamRef}

  @lib "sb_threads"

  defp tag, do: "s#{System.unique_integer([:positive])}"
  defp get(tag, key), do: SnakeBridge.call!(@lib, "tag_get", [tag, key])

  test "sqlite3 from ten concurrent processes: 200 of 200 statements work" do
    {:ok, session} = Session.start(affinity: :thread)

    {:ok, conn} =
      SnakeBridge.call("sqlite3", "connect", [":memory:"], __runtime__: [session_id: session])

    assert conn.session_id == session
    {:ok, _} = Ref.method(conn, "execute", ["create table t (x integer)"])

    results =
      1..10
      |> Enum.map(fn p ->
        Task.async(fn ->
          for i <- 1..20 do
            {:ok, _} = Ref.method(conn, "execute", ["insert into t values (?)", [p * 100 + i]])
            {:ok, cursor} = Ref.method(conn, "execute", ["select 1"])
            Runtime.stream_next(cursor)
          end
        end)
      end)
      |> Task.await_many(30_000)
      |> List.flatten()

    assert length(results) == 200
    assert Enum.all?(results, &(&1 == {:ok, {1}}))
    {:ok, cursor} = Ref.method(conn, "execute", ["select count(*) from t"])
    assert Runtime.stream_next(cursor) == {:ok, {200}}
    # The connection and its cursors are closed at release, on the same thread.
    assert Session.release(session) == :ok
  end

  test "calls, methods, attributes, stream_next and stream/5 of a session run on one thread" do
    t = tag()
    {:ok, session} = Session.start(affinity: :thread)
    rt = [__runtime__: [session_id: session]]

    {:ok, obj} = SnakeBridge.call(@lib, "ThreadBound", [t], rt)
    {:ok, owner} = Ref.getattr(obj, "owner_ident")
    assert SnakeBridge.call(@lib, "ident", [], rt) == {:ok, owner}
    assert Ref.method(obj, "bump") == {:ok, 1}

    {:ok, %StreamRef{} = idents} = Ref.method(obj, "idents", [3])
    assert Runtime.stream_next(idents) == {:ok, owner}
    assert Enum.to_list(idents) == [owner, owner]

    me = self()

    assert SnakeBridge.stream(@lib, "gen_with_finally", [t, 3], rt, fn _ ->
             {:ok, id} = SnakeBridge.call(@lib, "ident", [], rt)
             send(me, {:ident, id})
             :ok
           end) == :ok

    for _ <- 1..3, do: assert_receive({:ident, ^owner})

    # with_session/2 sets the session of every call made inside it.
    assert Session.with_session(session, fn -> SnakeBridge.call(@lib, "ident", []) end) ==
             {:ok, owner}

    assert Session.release(session) == :ok
    # Released on its own thread (its __del__ says so).
    assert eventually(fn -> get(t, "del_same_thread") == 1 end)
    assert get(t, "del_other") == 0
  end

  test "release closes the session's generators now and later uses give :released" do
    t = tag()
    {:ok, session} = Session.start(affinity: :thread)

    {:ok, gen} =
      SnakeBridge.call(@lib, "gen_with_finally", [t], __runtime__: [session_id: session])

    {:ok, obj} = SnakeBridge.call(@lib, "ThreadBound", [t], __runtime__: [session_id: session])
    assert Enum.take(gen, 2) == [0, 1]

    assert Session.release(session) == :ok
    # finally ran before release returned
    assert get(t, "finally") == 1

    assert Runtime.stream_next(gen) == {:error, :released}
    assert Ref.method(obj, "bump") == {:error, :released}
    assert Ref.getattr(obj, "value") == {:error, :released}

    assert SnakeBridge.call(@lib, "ident", [], __runtime__: [session_id: session]) ==
             {:error, :released}

    assert_raise SnakeBridge.Error, fn -> Enum.take(gen, 1) end
    # Releasing again is fine; other work is unaffected.
    assert Session.release(session) == :ok
    assert SnakeBridge.call("operator", "add", [1, 2]) == {:ok, 3}
  end

  test "a session is released when its owner exits" do
    t = tag()
    me = self()

    owner =
      spawn(fn ->
        {:ok, session} = Session.start(affinity: :thread)

        {:ok, gen} =
          SnakeBridge.call(@lib, "gen_with_finally", [t], __runtime__: [session_id: session])

        {:ok, 0} = Runtime.stream_next(gen)
        send(me, {:made, session, gen})
        receive do: (:never -> :ok)
      end)

    assert_receive {:made, session, gen}, 5_000
    Process.exit(owner, :kill)
    assert eventually(fn -> get(t, "finally") == 1 end, timeout: 5_000)
    assert Runtime.stream_next(gen) == {:error, :released}
    assert Session.release(session) == :ok
  end

  test "owner: another process owns the session" do
    t = tag()
    owner = spawn(fn -> receive do: (:stop -> :ok) end)
    {:ok, session} = Session.start(owner: owner)

    {:ok, gen} =
      SnakeBridge.call(@lib, "gen_with_finally", [t], __runtime__: [session_id: session])

    assert Runtime.stream_next(gen) == {:ok, 0}
    send(owner, :stop)
    assert eventually(fn -> get(t, "finally") == 1 end, timeout: 5_000)
  end

  test "refs outside any session are untouched by a release" do
    t = tag()
    {:ok, session} = Session.start()
    {:ok, gen} = SnakeBridge.call(@lib, "gen_with_finally", [t])
    assert Session.release(session) == :ok
    assert Enum.take(gen, 2) == [0, 1]
    assert get(t, "finally") == 0
  end

  test "bad options are refused" do
    assert_raise ArgumentError, fn -> Session.start(affinity: :process) end
    assert_raise ArgumentError, fn -> Session.start(owner: :nobody) end
  end
end
