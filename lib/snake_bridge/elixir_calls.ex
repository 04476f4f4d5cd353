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
        reply.(result(fun, args))
      end)

    Process.put({__MODULE__, tag}, [pid | Process.get({__MODULE__, tag}, [])])
    pid
  end

  @doc false
  # The call of `tag` is over: its callbacks still running are stopped.
  @spec stop(reference()) :: :ok
  def stop(tag) do
    for pid <- Process.delete({__MODULE__, tag}) || [] do
      Process.unlink(pid)
      Process.exit(pid, :kill)
    end

    :ok
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
