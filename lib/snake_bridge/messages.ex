defmodule SnakeBridge.Messages do
  @moduledoc false
  # The messages of a job, written once: every `receive` clause and every `send` of them
  # in lib/ uses these macros (they expand to the plain tuples, so a clause can still pin
  # `^tag` and the compiler's receive optimisation still applies). The table of who sends
  # each one, and when, is in ARCHITECTURE.md ("Messages").

  # ---- from the NIF, to the process waiting for a job (`tag` is its reference)

  @doc "The job's answer: `{:ok, value}` or `{:error, reason}`."
  defmacro answer(tag, result), do: quote(do: {unquote(tag), unquote(result)})

  @doc "What Python printed during the job (`device` is `:stdout` or `:stderr`)."
  defmacro io(tag, device, text),
    do: quote(do: {unquote(tag), :io, unquote(device), unquote(text)})

  @doc "Python called an Elixir function: run `fun` on `args`, reply with `id`."
  defmacro callback(tag, id, fun, args),
    do: quote(do: {unquote(tag), :callback, unquote(id), unquote(fun), unquote(args)})

  @doc "A batch of `stream/5` items (`kept`: handles of a worker's refs among them)."
  defmacro chunks(tag, items), do: quote(do: {unquote(tag), :chunks, unquote(items)})

  defmacro chunks(tag, items, kept),
    do: quote(do: {unquote(tag), :chunks, unquote(items), unquote(kept)})

  @doc "The `stream/5` producer ended: `:ok` or `{:error, reason}`."
  defmacro done(tag, result), do: quote(do: {unquote(tag), :done, unquote(result)})

  @doc "A stopped producer's thread is free (asked for with `stream_cancel(job, true)`)."
  defmacro finished(tag), do: quote(do: {unquote(tag), :finished})

  @doc "A session's objects were released on its thread (`Native.session_release/2`)."
  defmacro released(tag), do: quote(do: {unquote(tag), :released})

  # ---- between the nodes of a pool (`tag` is the caller's alias or the stream's tag)

  @doc "A worker forwards a callback to the caller's node; `from` gets the reply."
  defmacro remote_callback(tag, id, fun, args, from),
    do:
      quote(
        do: {unquote(tag), :callback, unquote(id), unquote(fun), unquote(args), unquote(from)}
      )

  @doc "The exit reason of a worker-side process: the answer, with its refs' handles."
  defmacro remote_result(tag, result, kept),
    do: quote(do: {unquote(tag), :result, unquote(result), unquote(kept)})

  @doc "The caller's reply to a forwarded callback."
  defmacro callback_reply(tag, id, reply),
    do: quote(do: {unquote(tag), :callback_reply, unquote(id), unquote(reply)})

  @doc "The caller took a batch of a remote `stream/5`."
  defmacro ack(tag), do: quote(do: {unquote(tag), :ack})

  @doc "The caller stops a remote `stream/5`; the worker answers `stopped/1`."
  defmacro stop(tag), do: quote(do: {unquote(tag), :stop})

  defmacro stopped(tag), do: quote(do: {unquote(tag), :stopped})

  # ---- from the NIF to the producer of a SnakeBridge.Iter (the Python thread asks)

  @doc "Python wants the next batch of a `SnakeBridge.iter/2`."
  defmacro iter_next, do: quote(do: {:"$snakebridge_iter", :next})

  @doc "Python stopped iterating: halt the enumerable (its cleanup runs)."
  defmacro iter_halt, do: quote(do: {:"$snakebridge_iter", :halt})

  # ---- from the NIF to SnakeBridge.Sink: work of Python threads with no caller

  @doc "Output of a thread Python started itself."
  defmacro sink_io(device, text), do: quote(do: {:snakebridge_io, unquote(device), unquote(text)})

  @doc "An Elixir function called from such a thread."
  defmacro sink_callback(id, fun, args),
    do: quote(do: {:snakebridge_callback, unquote(id), unquote(fun), unquote(args)})

  @doc "A large map a library thread made, to build on a scheduler (`Native.build_map/1`)."
  defmacro sink_build_map(id), do: quote(do: {:snakebridge_build_map, unquote(id)})

  @doc "A Python log record (`config :snakebridge, python_logging: :logger`)."
  defmacro sink_log(level, name, message),
    do: quote(do: {:snakebridge_log, unquote(level), unquote(name), unquote(message)})
end
