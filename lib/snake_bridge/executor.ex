defmodule SnakeBridge.Executor do
  @moduledoc false
  # Every operation that runs Python goes through here: the NIF queues it for a library
  # thread (the session's own thread for a thread-affine session) and the caller waits in
  # `receive`. No scheduler waits for Python; a timeout cancels the job (the answer never
  # arrives later), and the caller's death cancels it in the NIF (its job watches it).

  alias SnakeBridge.{Native, Pool.Remote}
  require SnakeBridge.Messages, as: Messages

  # At the deadline the Python code is interrupted and answers `{:error, :timeout}` once
  # it has stopped (its `finally` blocks run); the caller waits that long more for it.
  # Code blocked in a C call cannot be interrupted: the caller stops waiting then.
  @grace 100

  @doc false
  # `request` is a SnakeBridge.Request; `route` is a session id (or nil); `timeout` is
  # milliseconds or nil.
  @spec run(SnakeBridge.Request.t(), String.t() | nil, non_neg_integer() | nil) :: term()
  def run(request, route, timeout) do
    case SnakeBridge.Pool.route(request, timeout) do
      :local -> request |> local(route, timeout, @grace) |> elsewhere()
      {:remote, node, left} -> Remote.call(node, request, route, left)
      {:error, _} = error -> error
    end
  end

  @doc false
  # `run/3` that waits at most `ms` in all (no grace for the interrupted code to finish):
  # for what must not wait for Python (`inspect`). Past it the job is cancelled.
  @spec run_bounded(SnakeBridge.Request.t(), String.t() | nil, pos_integer()) :: term()
  def run_bounded(request, route, ms) do
    case SnakeBridge.Pool.route(request, ms) do
      :local -> request |> local(route, ms, 0) |> elsewhere()
      {:remote, node, left} -> Remote.call(node, request, route, left)
      {:error, _} = error -> error
    end
  end

  @doc false
  # `run/3` in two halves: `start/3` queues the request and returns at once (nil when it
  # would run on another node: use `run/3`), `finish/1` waits for its result. The caller
  # works meanwhile (a batch is produced while it uses the previous one); it must call
  # `finish/1` exactly once, or the answer stays in its mailbox.
  @spec start(SnakeBridge.Request.t(), String.t() | nil, non_neg_integer() | nil) ::
          {reference(), term(), non_neg_integer() | nil, integer()} | nil
  def start(request, route, timeout) do
    case SnakeBridge.Pool.route(request) do
      :local ->
        tag = make_ref()

        submitted =
          case Native.submit_async(tag, request, route, timeout) do
            :large -> Native.submit_large(tag, request, route, timeout)
            submitted -> submitted
          end

        {tag, submitted, timeout, System.monotonic_time(:millisecond)}

      _ ->
        nil
    end
  end

  @doc false
  def finish({tag, submitted, timeout, started}) do
    case submitted do
      Messages.answer(^tag, result) -> result
      {:error, _} = error -> error
      job -> job |> await(tag, after_ms(timeout), started) |> ended(tag)
    end
    |> elsewhere()
  end

  @doc false
  # `run/3` for work long enough that watching for a quick answer only burns the
  # caller's scheduler (a batch of many items): the answer always comes as a message.
  @spec run_unwatched(SnakeBridge.Request.t(), String.t() | nil, non_neg_integer() | nil) ::
          term()
  def run_unwatched(request, route, timeout) do
    case start(request, route, timeout) do
      nil -> run(request, route, timeout)
      started -> finish(started)
    end
  end

  @doc false
  # A ref of another node (a pool worker) given to a call that runs here.
  def elsewhere({:error, {:unconvertible, %{resource: r}, _}})
      when is_reference(r) and node(r) != node(),
      do: {:error, {:ref_on_other_node, node(r), node()}}

  def elsewhere(result), do: result

  defp local(request, route, timeout, grace) do
    tag = make_ref()

    case submit(tag, request, route, timeout) do
      {:answered, result} ->
        result

      {:waiting, job} ->
        # The first wait is here, next to make_ref/0: the compiler's receive
        # optimisation then skips messages older than the ref (a busy mailbox).
        started = System.monotonic_time(:millisecond)

        receive do
          Messages.answer(^tag, result) ->
            result

          Messages.io(^tag, _, _) = msg ->
            aside(msg)
            job |> await(tag, after_ms(timeout, grace), started) |> ended(tag)

          Messages.callback(^tag, _, _, _) = msg ->
            aside(msg)
            job |> await(tag, after_ms(timeout, grace), started) |> ended(tag)
        after
          after_ms(timeout, grace) -> give_up(job, tag)
        end
    end
  end

  # What Python prints comes before the answer, as `Messages.io(tag, device, text)`; the
  # deadline stays the one of the call.
  defp await(job, tag, wait, started) do
    left =
      if wait == :infinity,
        do: :infinity,
        else: max(wait - (System.monotonic_time(:millisecond) - started), 0)

    receive do
      Messages.answer(^tag, result) ->
        result

      Messages.io(^tag, _, _) = msg ->
        aside(msg)
        await(job, tag, wait, started)

      Messages.callback(^tag, _, _, _) = msg ->
        aside(msg)
        await(job, tag, wait, started)
    after
      left -> give_up(job, tag)
    end
  end

  # The call is over: Elixir functions it called that still run are stopped.
  defp ended(result, tag) do
    SnakeBridge.ElixirCalls.stop(tag)
    result
  end

  # What arrives before the answer: Python's output, and Elixir functions Python calls
  # (each runs in a process of its own: the deadline holds while it runs).
  defp aside(Messages.io(_, device, text)), do: write(device, text)
  defp aside(Messages.callback(tag, id, fun, args)), do: callback(tag, id, fun, args)

  # `{:answered, result}`: answered within the NIF (a quick call taken at once by a
  # spinning thread) or refused; `{:waiting, job}`: the answer comes as a message.
  defp submit(tag, request, route, timeout) do
    case Native.submit(tag, request, route, timeout) do
      :large -> Native.submit_large(tag, request, route, timeout)
      submitted -> submitted
    end
    |> case do
      Messages.answer(^tag, result) -> {:answered, result}
      {:error, :python_not_started} -> raise SnakeBridge.Error, reason: :python_not_started
      {:error, _} = error -> {:answered, error}
      job -> {:waiting, job}
    end
  end

  @doc false
  # Python called an Elixir function (a `snakebridge.Function`) during the call of `tag`:
  # it runs in a process of the caller's (see SnakeBridge.ElixirCalls), and its result (or
  # what it raised) goes back to Python.
  def callback(tag, id, fun, args),
    do: SnakeBridge.ElixirCalls.start(tag, fun, args, &Native.callback_reply(id, &1))

  @doc false
  # On a worker node, for a caller on another node (see SnakeBridge.Pool.Remote): runs
  # the operation here; Elixir functions Python calls are sent to `dest` (the caller's
  # alias) to run; the caller's death cancels the job. The caller is monitored only once
  # the job has run for @watch_after ms: a monitor of a process of another node costs
  # two messages over the connection, more than a short call.
  def run_for(dest, ctag, caller, request, route, timeout) do
    tag = make_ref()

    case submit(tag, request, route, timeout) do
      {:answered, result} ->
        result

      {:waiting, job} ->
        relay({job, tag, dest, ctag, caller, :unwatched}, after_ms(timeout), now())
    end
  end

  @watch_after 5

  defp relay({job, tag, dest, ctag, caller, watch} = state, wait, started) do
    left = if wait == :infinity, do: :infinity, else: max(wait - (now() - started), 0)

    {cmref, after_ms} =
      case watch do
        :unwatched -> {nil, min(left, @watch_after)}
        cmref -> {cmref, left}
      end

    receive do
      Messages.answer(^tag, result) ->
        result

      Messages.io(^tag, device, text) ->
        write(device, text)
        relay(state, wait, started)

      Messages.callback(^tag, id, fun, args) ->
        send(dest, Messages.remote_callback(ctag, id, fun, Remote.pack(caller, args), self()))
        relay(state, wait, started)

      Messages.callback_reply(^ctag, id, reply) ->
        Native.callback_reply(id, reply)
        relay(state, wait, started)

      {:DOWN, ^cmref, :process, _, _} ->
        give_up(job, tag)
        exit(:normal)
    after
      after_ms ->
        case watch do
          :unwatched when after_ms < left ->
            relay({job, tag, dest, ctag, caller, Process.monitor(caller)}, wait, started)

          _ ->
            give_up(job, tag)
        end
    end
  end

  defp now, do: System.monotonic_time(:millisecond)

  @doc false
  # Python's stdout goes to the group leader (the caller's: iex, capture_io), its
  # stderr to :standard_error.
  def write(:stdout, text), do: IO.write(Process.group_leader(), text)
  def write(:stderr, text), do: IO.write(:standard_error, text)

  # (receive takes at most 2^32 - 1 ms: a longer timeout is no deadline.)
  defp after_ms(timeout, grace \\ @grace)

  defp after_ms(timeout, grace) when is_integer(timeout) and timeout < 0xFFFFFFFF - grace,
    do: timeout + grace

  defp after_ms(_, _), do: :infinity

  # The job may have answered just now: after cancel no answer is sent, so one in the
  # mailbox is the last.
  defp give_up(job, tag) do
    Native.cancel(job)
    drain(tag)
    {:error, :timeout}
  end

  defp drain(tag) do
    receive do
      Messages.io(^tag, device, text) ->
        write(device, text)
        drain(tag)

      Messages.callback(^tag, id, _fun, _args) ->
        Native.callback_reply(id, {:error, "the caller stopped waiting (timeout)"})
        drain(tag)

      Messages.answer(^tag, _) ->
        :ok
    after
      0 -> :ok
    end
  end
end
