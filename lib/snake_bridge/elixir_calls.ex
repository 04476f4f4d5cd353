defmodule SnakeBridge.ElixirCalls do
  @moduledoc false
  # Elixir functions Python calls during a call (`snakebridge.Function`) run in a process
  # of their own, spawned by the caller and linked to it, with the caller's group leader
  # and a copy of its process dictionary. The caller keeps waiting in `receive`, so its
  # deadline holds while a callback runs: at the end of the call (answer, timeout) its
  # callbacks still running are killed, and the caller's death takes them with it.
  #
  # The running callbacks of a call are kept in the caller's process dictionary under
  # `{SnakeBridge.ElixirCalls, tag}` (no state to thread through every receive loop).

  # Where a callback process keeps its reply function (see reply_fun/0).
  @reply {__MODULE__, :reply}

  @doc false
  # Runs `fun` on `args` in a new process; `reply` gets `{:ok, value}` or
  # `{:error, message}` there.
  @spec start(reference(), fun(), list(), (term() -> any())) :: pid()
  def start(tag, fun, args, reply) do
    caller = self()
    dict = for {k, v} <- Process.get(), not own_key?(k), do: {k, v}

    pid =
      spawn_link(fn ->
        for {k, v} <- dict, do: Process.put(k, v)
        Process.put(:"$callers", [caller | Process.get(:"$callers", [])])
        Process.put(@reply, reply)
        reply.(result(fun, args))
      end)

    # The producer of a SnakeBridge.iter/2 is halted at the end of the call, not killed.
    entry = if fun == (&SnakeBridge.Iter.__python__/1), do: {:iter, pid}, else: pid
    Process.put({__MODULE__, tag}, [entry | Process.get({__MODULE__, tag}, [])])
    pid
  end

  @doc false
  # In a process running an Elixir function Python called: how it answers Python (a
  # SnakeBridge.iter/2 producer answers once per batch).
  @spec reply_fun() :: (term() -> any())
  def reply_fun, do: Process.get(@reply)

  @doc false
  # The same, for a process the sink spawned.
  @spec run_for_sink(fun(), list(), (term() -> any())) :: any()
  def run_for_sink(fun, args, reply) do
    Process.put(@reply, reply)
    reply.(result(fun, args))
  end

  @doc false
  # The call of `tag` is over: its callbacks still running are stopped.
  @spec stop(reference()) :: :ok
  def stop(tag) do
    iters =
      for entry <- Process.delete({__MODULE__, tag}) || [], reduce: [] do
        iters ->
          case entry do
            {:iter, pid} ->
              [pid | iters]

            pid ->
              Process.unlink(pid)
              Process.exit(pid, :kill)
              iters
          end
      end

    SnakeBridge.Iter.__stop__(iters)
  end

  @doc false
  # What the function returned, or what it raised, threw or exited with, as one message.
  @spec result(fun(), list()) :: {:ok, term()} | {:error, String.t()}
  def result(fun, args) do
    # Structs with a SnakeBridge.Encoder are encoded here: Python converts the value later,
    # on its thread, where no retry is possible.
    {:ok, SnakeBridge.Encoding.encode(apply(fun, args))}
  catch
    kind, reason -> {:error, Exception.format_banner(kind, reason, __STACKTRACE__)}
  end

  defp own_key?({__MODULE__, _}), do: true
  defp own_key?(:"$initial_call"), do: true
  defp own_key?(_), do: false
end
