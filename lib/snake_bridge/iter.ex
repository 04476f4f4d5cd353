defmodule SnakeBridge.Iter do
  @moduledoc """
  An Elixir enumerable given to Python as a lazy iterator (made by `SnakeBridge.iter/2`).

  Given to Python anywhere a value goes (an argument, inside a list or map, `eval`
  globals, a generated function's argument), a `%SnakeBridge.Iter{}` is a Python
  iterator (`snakebridge.ElixirIterator`) that pulls items from the Elixir side when
  Python asks for them, `batch` items per hand-off:

      iex> SnakeBridge.call("builtins", "sum", [SnakeBridge.iter(1..100)])
      {:ok, 5050}
      iex> SnakeBridge.call("builtins", "list", [SnakeBridge.iter(Stream.map(1..3, &(&1 * 2)))])
      {:ok, [2, 4, 6]}

  With `mode: :binary` it is a read-only binary file (`read`, `readinto`, `readline`,
  iteration by line) over a stream of binaries, and with `mode: :text` a text file
  (`io.TextIOWrapper` over it), so `json.load`, `csv.reader`, `hashlib.file_digest` and
  `pandas.read_csv` read an Elixir stream directly:

      iex> lines = Stream.map(["{\\"a\\": ", "[1, 2]}"], & &1)
      iex> SnakeBridge.call("json", "load", [SnakeBridge.iter(lines, mode: :binary)])
      {:ok, %{"a" => [1, 2]}}

  ## How it runs

  Nothing runs until Python first asks for an item. Then the enumerable runs in a
  process of its own, started by the process that made the call and linked to it (as
  for an Elixir function Python calls), so `File.stream!/3`, `Stream.resource/3` and
  anything that needs its own process work as they do in Elixir. Python waits for each
  batch with the GIL released (other Python threads run), and a stop of its call (a
  timeout, the caller's death) ends the wait.

  It stops both ways:

    * Python stops early (`break`, an exception, the object dropped or `close()`d, the
      call ending): the enumerable is halted, so its cleanup runs (`File.stream!`
      closes its file, `Stream.resource/3` calls its `after` function). At the end of
      the call the caller waits for that cleanup (at most 1 s, then the process is
      killed).
    * The enumerable raises: Python raises `snakebridge.ElixirError` with the Elixir
      error's message.
    * No batch within `timeout`: Python raises `TimeoutError` and the enumerable is
      halted. A timeout of the call, or the death of its caller, stops both sides.

  The iterator belongs to the call it was given to: once that call ended, a Python
  object kept from it raises instead of producing items.

  On a pool worker the enumerable still runs on the caller's node (where its files and
  processes are); each batch then crosses the connection.
  """

  @enforce_keys [:enumerable]
  defstruct enumerable: nil,
            batch: 1,
            mode: :items,
            timeout: nil,
            encoding: "utf-8",
            newline: nil,
            python: &__MODULE__.__python__/1

  @typedoc "An enumerable wrapped for Python; build it with `SnakeBridge.iter/2`."
  @type t :: %__MODULE__{
          enumerable: Enumerable.t(),
          batch: pos_integer(),
          mode: :items | :binary | :text,
          timeout: pos_integer() | :infinity | nil,
          encoding: String.t(),
          newline: String.t() | nil,
          python: (term() -> term())
        }

  @modes [:items, :binary, :text]
  @newlines [nil, "", "\n", "\r", "\r\n"]

  # How long the end of a call waits for its iterators' cleanup before killing them.
  @halt_grace 1_000

  @doc """
  Wraps `enumerable` for Python. See the module doc and `SnakeBridge.iter/2`.

  Options: `batch:` (items per hand-off, default 1), `mode:` (`:items`, `:binary` or
  `:text`), `timeout:` (ms Python waits for one batch; default the `callback_timeout`
  setting, 5 s), `encoding:` and `newline:` (for `mode: :text`, as `open()` takes them;
  default `"utf-8"` and universal newlines).

      iex> %SnakeBridge.Iter{batch: 100} = SnakeBridge.Iter.new(1..10, batch: 100)
      iex> SnakeBridge.Iter.new(1..10, batch: 0)
      ** (ArgumentError) SnakeBridge.iter: batch must be a positive integer, got: 0
  """
  @spec new(Enumerable.t(), keyword()) :: t()
  def new(enumerable, opts \\ []) do
    unless Enumerable.impl_for(enumerable) do
      raise ArgumentError,
            "SnakeBridge.iter: not an Enumerable: #{inspect(enumerable, limit: 5)}"
    end

    unless Keyword.keyword?(opts) do
      raise ArgumentError,
            "SnakeBridge.iter: options must be a keyword list, got: #{inspect(opts)}"
    end

    Enum.reduce(opts, %__MODULE__{enumerable: enumerable}, &option/2)
  end

  defp option({:batch, n}, iter) when is_integer(n) and n > 0, do: %{iter | batch: n}
  defp option({:mode, m}, iter) when m in @modes, do: %{iter | mode: m}

  defp option({:timeout, t}, iter) when (is_integer(t) and t > 0) or t == :infinity,
    do: %{iter | timeout: t}

  defp option({:encoding, e}, iter) when is_binary(e), do: %{iter | encoding: e}
  defp option({:newline, n}, iter) when n in @newlines, do: %{iter | newline: n}

  defp option({key, value}, _iter)
       when key in [:batch, :mode, :timeout, :encoding, :newline] do
    raise ArgumentError,
          "SnakeBridge.iter: #{key} must be #{expected(key)}, got: #{inspect(value)}"
  end

  defp option({key, _}, _iter) do
    raise ArgumentError,
          "SnakeBridge.iter: unknown option #{inspect(key)} " <>
            "(known: batch, mode, timeout, encoding, newline)"
  end

  defp expected(:batch), do: "a positive integer"
  defp expected(:mode), do: "one of #{inspect(@modes)}"
  defp expected(:timeout), do: "a positive integer (ms) or :infinity"
  defp expected(:encoding), do: "a string (a Python codec name)"
  defp expected(:newline), do: "one of #{inspect(@newlines)}"

  # ------------------------------------------------------------------ the Elixir side
  #
  # Python's first request is an Elixir call (the callback message of
  # SnakeBridge.ElixirCalls) of `python` on the struct: that process becomes the
  # producer. It suspends the enumeration after every batch, answers through the
  # callback's reply (several times, each `{:ok, {@tag, self(), items, more?}}`), and
  # waits for Python's next request (`Messages.iter_next/0`) or `Messages.iter_halt/0`.
  # For a producer on another node (a pool worker's Python), Python's requests come as
  # `{:send, pid, message}` calls of `python` made by that node's sink.

  require SnakeBridge.Messages, as: Messages

  @tag :"$snakebridge_iter"

  @doc false
  def __python__(%__MODULE__{} = iter) do
    reply = SnakeBridge.ElixirCalls.reply_fun()
    reducer = reducer(iter.batch)
    step = fn acc -> Enumerable.reduce(iter.enumerable, acc, reducer) end
    serve(step.({:cont, {iter.batch, []}}), iter, reply)
  end

  def __python__({:send, pid, message}) when is_pid(pid) do
    send(pid, message)
    :ok
  end

  defp reducer(batch) do
    fn
      item, {1, acc} -> {:suspend, {batch, [item | acc]}}
      item, {n, acc} -> {:cont, {n - 1, [item | acc]}}
    end
  end

  defp serve({:suspended, {_, acc}, cont}, iter, reply) do
    if answer(reply, iter, acc, true) == false do
      # Nobody waits for this iterator any more (Python dropped it while it started).
      halt(cont)
    else
      # A halt goes before requests Python sent ahead of it.
      receive do
        Messages.iter_halt() -> halt(cont)
      after
        0 ->
          receive do
            Messages.iter_next() -> serve(cont.({:cont, {iter.batch, []}}), iter, reply)
            Messages.iter_halt() -> halt(cont)
          end
      end
    end
  end

  defp serve({:done, {_, acc}}, iter, reply) do
    answer(reply, iter, acc, false)
    :done
  end

  # (Only an enumerable that halts by itself gets here: the reducer never halts.)
  defp serve({:halted, {_, acc}}, iter, reply) do
    answer(reply, iter, acc, false)
    :done
  end

  defp halt(cont) do
    cont.({:halt, {0, []}})
    :halted
  end

  defp answer(reply, iter, acc, more) do
    items = Enum.reverse(acc)
    if iter.mode != :items, do: check_binaries(items, iter.mode)
    reply.({:ok, {@tag, self(), SnakeBridge.Encoding.encode(items), more}})
  end

  defp check_binaries(items, mode) do
    case Enum.find(items, &(not is_binary(&1))) do
      nil ->
        :ok

      other ->
        raise ArgumentError,
              "SnakeBridge.iter(mode: #{inspect(mode)}): the enumerable gave " <>
                "#{inspect(other, limit: 5)}, not a binary"
    end
  end

  @doc false
  # The end of a call: its iterators' producers are halted (their cleanup runs), waited
  # for up to @halt_grace ms together, then killed.
  @spec __stop__([pid()]) :: :ok
  def __stop__([]), do: :ok

  def __stop__(pids) do
    monitors =
      for pid <- pids do
        Process.unlink(pid)
        ref = Process.monitor(pid)
        send(pid, Messages.iter_halt())
        {ref, pid}
      end

    deadline = System.monotonic_time(:millisecond) + @halt_grace

    for {ref, pid} <- monitors do
      left = max(deadline - System.monotonic_time(:millisecond), 0)

      receive do
        {:DOWN, ^ref, :process, _, _} -> :ok
      after
        left ->
          Process.exit(pid, :kill)
          Process.demonitor(ref, [:flush])
      end
    end

    :ok
  end
end
