defmodule SnakeBridge.Executor do
  @moduledoc false
  # Every operation that runs Python goes through here: the NIF queues it for a library
  # thread (the session's own thread for a thread-affine session) and the caller waits in
  # `receive`. No scheduler waits for Python; a timeout cancels the job (the answer never
  # arrives later), and the caller's death cancels it in the NIF (its job watches it).

  alias SnakeBridge.Native

  # At the deadline the Python code is interrupted and answers `{:error, :timeout}` once
  # it has stopped (its `finally` blocks run); the caller waits that long more for it.
  # Code blocked in a C call cannot be interrupted: the caller stops waiting then.
  @grace 100

  @doc false
  # `route` is a session id (or nil); `timeout` is milliseconds or nil.
  def run(op, request, route, timeout) do
    tag = make_ref()

    job =
      case Native.submit(tag, op, request, route, timeout) do
        :large -> Native.submit_large(tag, op, request, route, timeout)
        job -> job
      end

    case job do
      # Answered within the NIF (a quick call taken at once by a spinning thread).
      {^tag, result} ->
        result

      {:error, _} = error ->
        error

      job ->
        receive do
          {^tag, result} -> result
        after
          after_ms(timeout) -> give_up(job, tag)
        end
    end
  end

  # (receive takes at most 2^32 - 1 ms: a longer timeout is no deadline.)
  defp after_ms(timeout) when is_integer(timeout) and timeout < 0xFFFFFFFF - @grace,
    do: timeout + @grace

  defp after_ms(_), do: :infinity

  # The job may have answered just now: after cancel no answer is sent, so one in the
  # mailbox is the last.
  defp give_up(job, tag) do
    Native.cancel(job)

    receive do
      {^tag, _} -> :ok
    after
      0 -> :ok
    end

    {:error, :timeout}
  end
end
