defmodule SnakeBridge.AwaitableTest do
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers

  alias SnakeBridge.{Ref, StreamRef}

  @lib "sb_async"

  defp tag, do: "aw-#{System.unique_integer([:positive])}"

  test "a call of an async function returns the awaited value" do
    assert SnakeBridge.call(@lib, "add", [2, 3]) == {:ok, 5}
  end

  test "any awaitable is awaited: an object with __await__" do
    assert SnakeBridge.call(@lib, "make_awaitable", []) == {:ok, "custom"}
  end

  test "the awaited value keeps the call's context: a Ref of its session" do
    assert {:ok, %Ref{session_id: "aw-session"}} =
             SnakeBridge.call(@lib, "returns_object", [], __runtime__: [session_id: "aw-session"])
  end

  test "an exception in the coroutine is a PythonError" do
    assert {:error, %SnakeBridge.PythonError{type: "ValueError", message: "async boom"}} =
             SnakeBridge.call(@lib, "fails", [])
  end

  test "the seed's collect_async over an async generator StreamRef" do
    {:ok, %StreamRef{stream_type: "async_generator"} = agen} = SnakeBridge.call(@lib, "agen", [4])
    assert SnakeBridge.call(@lib, "collect_async", [agen]) == {:ok, [0, 2, 4, 6]}
  end

  test "async generators are still StreamRefs, stepped from Elixir" do
    {:ok, %StreamRef{stream_type: "async_generator"} = agen} = SnakeBridge.call(@lib, "agen", [3])
    assert Enum.to_list(agen) == [0, 2, 4]
  end

  test "a timeout cancels the task: CancelledError inside, finally runs" do
    t = tag()

    assert {:error, :timeout} =
             SnakeBridge.call(@lib, "guarded", [t, 30], __runtime__: [timeout: 100])

    # The cancel reaches the task on the library's event loop, which needs the GIL: on a
    # loaded 2-core machine that took over 2 s once (as the caller's-death case below).
    assert eventually(fn -> SnakeBridge.call!(@lib, "get", [t <> ":finally"]) end,
             timeout: 10_000
           )

    assert SnakeBridge.call!(@lib, "get", [t]) == "cancelled"
  end

  test "the caller's death cancels the task" do
    t = tag()
    parent = self()

    pid =
      spawn(fn ->
        send(parent, :calling)
        SnakeBridge.call(@lib, "guarded", [t, 30])
      end)

    assert_receive :calling
    assert eventually(fn -> SnakeBridge.call!(@lib, "get", [t]) == "started" end)
    Process.exit(pid, :kill)

    assert eventually(fn -> SnakeBridge.call!(@lib, "get", [t <> ":finally"]) end, timeout: 10_000)

    assert SnakeBridge.call!(@lib, "get", [t]) == "cancelled"
  end

  @tag :timing
  test "many awaiting calls run concurrently on the loop" do
    # 100 calls of 0.2 s each: 20 s one after another, 2.5 s on the 8 call threads; the
    # loop runs them at once (bench/awaitable.exs measures it; this bound has a margin
    # for a loaded machine).
    {elapsed_us, results} =
      :timer.tc(fn ->
        1..100
        |> Enum.map(fn _ -> Task.async(fn -> SnakeBridge.call(@lib, "nap", [0.2]) end) end)
        |> Enum.map(&Task.await(&1, 30_000))
      end)

    assert Enum.all?(results, &(&1 == {:ok, 0.2}))
    assert elapsed_us < 1_500_000, "100 awaiting calls took #{div(elapsed_us, 1000)} ms"
  end
end
