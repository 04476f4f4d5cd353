defmodule SnakeBridge.Streamer do
  @moduledoc false
  # The caller's side of SnakeBridge.stream/5: receives batches, acknowledges them,
  # calls the callback, and stops the producer on halt, raise or timeout.

  alias SnakeBridge.{Native, Runtime}
  require SnakeBridge.Messages, as: Messages

  @window 8
  @chunk 1024
  # Bytes sent and not yet taken by the callback (about: terms and binary data).
  @bytes 64 * 1024 * 1024
  # How long a stopped producer may take to close before we stop waiting for it.
  @close_grace 5_000

  def run(module, function, args, opts, callback) do
    {runtime, kwargs} = Keyword.pop(opts, :__runtime__, [])
    runtime = Runtime.validate!(runtime)
    runtime = Keyword.put_new_lazy(runtime, :session_id, &SnakeBridge.Session.current/0)
    library = Runtime.library(module)
    timeout = Runtime.resolve_timeout(:stream_timeout, library, runtime)

    unless timeout == :infinity or (is_integer(timeout) and timeout >= 0) do
      raise ArgumentError,
            "stream_timeout must be a non-negative integer (ms) or :infinity, got: #{inspect(timeout)}"
    end

    deadline = if timeout == :infinity, do: :infinity, else: now() + timeout
    window = Keyword.get(runtime, :stream_window, @window)
    chunk = Keyword.get(runtime, :stream_chunk, @chunk)
    bytes = Keyword.get(runtime, :stream_bytes, @bytes)
    ctx = Runtime.ctx(library, runtime)

    # Arguments are converted before Python runs: a struct refused there (its error comes
    # with :done, before any item) is sent again encoded (SnakeBridge.Encoder).
    args
    |> SnakeBridge.Encoding.with_encoders(kwargs, fn args, kwargs ->
      tag = make_ref()
      limits = {window, chunk, bytes}

      %SnakeBridge.Context{session_id: session, pool: pool} = ctx

      case if(pool,
             do:
               SnakeBridge.Pool.pick(
                 pool,
                 session,
                 SnakeBridge.Pool.ref_nodes({args, kwargs}),
                 timeout
               ),
             else: :local
           ) do
        :local ->
          case Native.stream_start(module, function, args, kwargs, ctx, self(), tag, limits) do
            {:ok, job} -> with_callbacks(tag, fn -> loop(job, tag, callback, deadline) end)
            {:error, _} = error -> error
          end

        {:remote, node, _left} ->
          if SnakeBridge.Pool.Remote.connected?(node),
            do:
              with_callbacks(tag, fn ->
                remote(
                  node,
                  tag,
                  [module, function, args, kwargs, ctx, limits],
                  callback,
                  deadline
                )
              end),
            else: SnakeBridge.Pool.Remote.down()

        {:error, _} = error ->
          error
      end
    end)
    |> normalize()
  end

  # Elixir functions Python called and that still run are stopped when the stream ends.
  defp with_callbacks(tag, fun) do
    fun.()
  after
    SnakeBridge.ElixirCalls.stop(tag)
  end

  defp remote(node, tag, [module, function, args, kwargs, ctx, limits], callback, deadline) do
    stream_args = [self(), tag, module, function, args, kwargs, ctx, limits]
    {pid, mref} = :erlang.spawn_monitor(node, SnakeBridge.Pool.Remote, :stream, stream_args)
    loop({:remote, pid, mref}, tag, callback, deadline)
  end

  defp loop(job, tag, callback, deadline) do
    mref = monitor_of(job)

    receive do
      Messages.chunks(^tag, items) ->
        chunk(items, job, tag, callback, deadline)

      # Items with refs from a worker: they get this node's handle (see Pool.Keeper).
      Messages.chunks(^tag, items, kept) ->
        items |> SnakeBridge.Pool.Keeper.attach(kept) |> chunk(job, tag, callback, deadline)

      Messages.done(^tag, result) ->
        if mref, do: Process.demonitor(mref, [:flush])
        result

      Messages.remote_callback(^tag, id, fun, args, from) ->
        args = SnakeBridge.Pool.Remote.unpack(args)

        SnakeBridge.ElixirCalls.start(
          tag,
          fun,
          args,
          &send(from, Messages.callback_reply(tag, id, &1))
        )

        loop(job, tag, callback, deadline)

      {:DOWN, ^mref, :process, _, reason} ->
        flush(tag)
        {:error, {:worker_down, SnakeBridge.Pool.Remote.down_reason(reason)}}

      Messages.io(^tag, device, text) ->
        SnakeBridge.Executor.write(device, text)
        loop(job, tag, callback, deadline)

      Messages.callback(^tag, id, fun, args) ->
        SnakeBridge.Executor.callback(tag, id, fun, args)
        loop(job, tag, callback, deadline)
    after
      remaining(deadline) ->
        if remaining(deadline) == 0 do
          stop(job, tag)
          {:error, :timeout}
        else
          loop(job, tag, callback, deadline)
        end
    end
  end

  defp chunk(items, job, tag, callback, deadline) do
    # Acknowledge first: the producer makes the next batch while the callback runs.
    ack(job, tag)

    case apply_each(items, callback, deadline) do
      :ok ->
        loop(job, tag, callback, deadline)

      :halt ->
        stop(job, tag)
        :ok

      :timeout ->
        stop(job, tag)
        {:error, :timeout}

      {:raise, kind, reason, stack} ->
        stop(job, tag)
        :erlang.raise(kind, reason, stack)
    end
  end

  defp apply_each(items, callback, deadline) do
    if remaining(deadline) == 0, do: :timeout, else: first(items, callback, deadline)
  catch
    kind, reason -> {:raise, kind, reason, __STACKTRACE__}
  end

  # The deadline is checked before every batch and inside it: every 64 items, or after
  # every item when the callback is slow (the first item of the batch took over 100 µs),
  # so neither small batches nor a slow callback can outlive the stream's timeout.
  defp first([], _callback, _deadline), do: :ok

  defp first([item | rest], callback, deadline) do
    t0 = System.monotonic_time(:microsecond)

    case callback.(item) do
      :ok ->
        every = if System.monotonic_time(:microsecond) - t0 > 100, do: 1, else: 64
        each(rest, callback, deadline, 0, every)

      :halt ->
        :halt

      other ->
        bad_return!(other)
    end
  end

  defp each([], _callback, _deadline, _n, _every), do: :ok

  defp each(items, callback, deadline, every, every) do
    if remaining(deadline) == 0, do: :timeout, else: each(items, callback, deadline, 0, every)
  end

  defp each([item | rest], callback, deadline, n, every) do
    case callback.(item) do
      :ok -> each(rest, callback, deadline, n + 1, every)
      :halt -> :halt
      other -> bad_return!(other)
    end
  end

  # Raised inside apply_each/3, so the producer is stopped before it reaches the caller,
  # like an exception from the callback itself.
  defp bad_return!(value) do
    raise ArgumentError,
          "SnakeBridge.stream/5: the callback must return :ok or :halt, got: " <>
            inspect(value, limit: 10)
  end

  # Cancel (no message is sent after this but the `:finished` asked for), wait for the
  # producer to close its generator (in `receive`: no scheduler waits for Python), and
  # drop what it sent before.
  defp monitor_of({:remote, _pid, mref}), do: mref
  defp monitor_of(_job), do: nil

  defp ack({:remote, pid, _}, tag), do: send(pid, Messages.ack(tag))
  defp ack(job, _tag), do: Native.stream_ack(job, 1)

  @doc false
  # A producer on another node stops there (see SnakeBridge.Pool.Remote.stream/8) and
  # says `:stopped` after its last message; a dead worker sends nothing more.
  def stop({:remote, pid, mref}, tag) do
    send(pid, Messages.stop(tag))

    receive do
      Messages.stopped(^tag) -> Process.demonitor(mref, [:flush])
      {:DOWN, ^mref, :process, _, _} -> :ok
    after
      @close_grace + 1_000 ->
        Process.exit(pid, :kill)
        Process.demonitor(mref, [:flush])
    end

    flush(tag)
  end

  def stop(job, tag) do
    with :ok <- Native.stream_cancel(job, true) do
      receive do
        Messages.finished(^tag) -> :ok
      after
        @close_grace -> Native.stream_cancel(job, false)
      end
    end

    flush(tag)
  end

  defp flush(tag) do
    receive do
      Messages.io(^tag, device, text) ->
        SnakeBridge.Executor.write(device, text)
        flush(tag)

      Messages.callback(^tag, id, _fun, _args) ->
        Native.callback_reply(id, {:error, "the stream was stopped"})
        flush(tag)

      Messages.remote_callback(^tag, _id, _fun, _args, _from) ->
        flush(tag)

      Messages.chunks(^tag, _, _) ->
        flush(tag)

      Messages.chunks(^tag, _) ->
        flush(tag)

      Messages.done(^tag, _) ->
        flush(tag)

      Messages.finished(^tag) ->
        flush(tag)
    after
      0 -> :ok
    end
  end

  defp normalize(:ok), do: :ok
  defp normalize({:error, _} = error), do: Runtime.result(error)

  defp now, do: System.monotonic_time(:millisecond)

  defp remaining(:infinity), do: :infinity
  # receive takes at most 2^32 - 1 ms: a longer wait comes back here and waits again.
  defp remaining(deadline), do: deadline |> Kernel.-(now()) |> max(0) |> min(0xFFFFFFFF)
end
