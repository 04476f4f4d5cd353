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

  With `mode: :binary` it is a read-only binary file (`snakebridge.ElixirFile`: `read`,
  `read1`, `readinto`, `readline`, `readlines`, iteration by line, `close`) over a stream
  of binaries, and with `mode: :text` a text file (`io.TextIOWrapper` over it), so
  `json.load`, `csv.reader`, `hashlib.file_digest` and `pandas.read_csv` read an Elixir
  stream directly. The binaries are not copied on their way to Python: reads copy once,
  into what they return (as reading a file does), and `f.readchunk()` gives the next
  binary itself, shared, as a read-only `memoryview` of the BEAM's memory (`b""`-equal at
  the end: `for chunk in iter(f.readchunk, b""): h.update(chunk)`).

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
            ahead: 0,
            python: &__MODULE__.__python__/1

  @typedoc "An enumerable wrapped for Python; build it with `SnakeBridge.iter/2`."
  @type t :: %__MODULE__{
          enumerable: Enumerable.t(),
          batch: pos_integer(),
          mode: :items | :binary | :text,
          timeout: pos_integer() | :infinity | nil,
          encoding: String.t(),
          newline: String.t() | nil,
          ahead: non_neg_integer(),
          python: (term() -> term())
        }

  @modes [:items, :binary, :text]
  @newlines [nil, "", "\n", "\r", "\r\n"]

  # How long the end of a call waits for its iterators' cleanup before killing them.
  @halt_grace 1_000

  @doc """
  Wraps `enumerable` for Python. See the module doc and `SnakeBridge.iter/2`.

  Options:

    * `batch:` - items per hand-off (default 1: Python taking 3 items makes the
      enumerable make exactly 3).
    * `mode:` - `:items` (the default), `:binary` (a binary file over a stream of
      binaries) or `:text` (`io.TextIOWrapper` over it).
    * `timeout:` - ms Python waits for one batch (default: the `callback_timeout`
      setting, 5 s), or `:infinity` (the call's own timeout still holds).
    * `encoding:`, `newline:` - for `mode: :text`, as `open()` takes them (default
      `"utf-8"` and universal newlines; `newline: ""` for `csv`).
    * `ahead:` - batches asked for before Python needs them, so the enumerable works
      while Python does (default 0 for `batch: 1`, 2 for other batches, 4 for files).

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

    # (length/1 is a fast BIF: it raises on an improper list.)
    if is_list(enumerable) and not proper?(enumerable) do
      raise ArgumentError, "SnakeBridge.iter: an improper list: #{inspect(enumerable, limit: 5)}"
    end

    unless Keyword.keyword?(opts) do
      raise ArgumentError,
            "SnakeBridge.iter: options must be a keyword list, got: #{inspect(opts)}"
    end

    iter = Enum.reduce(opts, %__MODULE__{enumerable: enumerable}, &option/2)
    if Keyword.has_key?(opts, :ahead), do: iter, else: %{iter | ahead: default_ahead(iter)}
  end

  defp proper?(list) do
    _ = length(list)
    true
  rescue
    ArgumentError -> false
  end

  defp option({:batch, n}, iter) when is_integer(n) and n > 0, do: %{iter | batch: n}
  defp option({:mode, m}, iter) when m in @modes, do: %{iter | mode: m}

  defp option({:timeout, t}, iter) when (is_integer(t) and t > 0) or t == :infinity,
    do: %{iter | timeout: t}

  defp option({:encoding, e}, iter) when is_binary(e), do: %{iter | encoding: e}
  defp option({:newline, n}, iter) when n in @newlines, do: %{iter | newline: n}
  defp option({:ahead, n}, iter) when is_integer(n) and n >= 0, do: %{iter | ahead: n}

  defp option({key, value}, _iter)
       when key in [:batch, :mode, :timeout, :encoding, :newline, :ahead] do
    raise ArgumentError,
          "SnakeBridge.iter: #{key} must be #{expected(key)}, got: #{inspect(value)}"
  end

  defp option({key, _}, _iter) do
    raise ArgumentError,
          "SnakeBridge.iter: unknown option #{inspect(key)} " <>
            "(known: batch, mode, timeout, encoding, newline, ahead)"
  end

  defp expected(:batch), do: "a positive integer"
  defp expected(:mode), do: "one of #{inspect(@modes)}"
  defp expected(:timeout), do: "a positive integer (ms) or :infinity"
  defp expected(:encoding), do: "a string (a Python codec name)"
  defp expected(:newline), do: "one of #{inspect(@newlines)}"
  defp expected(:ahead), do: "a non-negative integer"

  # Strict (`batch: 1` items): nothing is made before Python asks for it. Batches: two
  # ahead (measured: more than one hides the wake-ups of a loaded machine). A file reads ahead, as a buffered file does (the BEAM's reads then overlap
  # Python's work instead of each waiting for a sleeping scheduler).
  defp default_ahead(%__MODULE__{mode: :items, batch: 1}), do: 0
  defp default_ahead(%__MODULE__{mode: :items}), do: 2
  defp default_ahead(%__MODULE__{}), do: 4

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
    serve(take(open(iter.enumerable), iter.batch), iter, SnakeBridge.ElixirCalls.reply_fun())
  end

  def __python__({:send, pid, message}) when is_pid(pid) do
    send(pid, message)
    :ok
  end

  # A source: the enumerable's remaining items. Lists and ranges are sliced directly
  # (no reducer call per item); anything else is reduced, suspended after each batch.
  defp open(list) when is_list(list), do: {:list, list}
  defp open(%Range{} = range), do: {:range, range}
  defp open(enum), do: {:reduce, &Enumerable.reduce(enum, &1, &2)}

  # {items, source or :done}
  defp take({:list, list}, n), do: take_list(list, n, [])

  defp take({:range, first..last//step}, n) do
    if (step > 0 and first > last) or (step < 0 and first < last) do
      {[], :done}
    else
      stop = first + (n - 1) * step
      stop = if step > 0, do: min(stop, last), else: max(stop, last)
      items = Enum.to_list(first..stop//step)
      {items, {:range, (stop + step)..last//step}}
    end
  end

  defp take({:reduce, reduce}, n) do
    reducer = fn
      item, {1, acc} -> {:suspend, {n, [item | acc]}}
      item, {k, acc} -> {:cont, {k - 1, [item | acc]}}
    end

    suspended(reduce.({:cont, {n, []}}, reducer))
  end

  defp take({:cont, cont}, n) do
    # The reducer's count restarts at the batch size (it was n when suspended).
    suspended(cont.({:cont, {n, []}}))
  end

  defp suspended({:suspended, {_, acc}, cont}), do: {Enum.reverse(acc), {:cont, cont}}
  defp suspended({:done, {_, acc}}), do: {Enum.reverse(acc), :done}
  # (Only an enumerable that halts by itself gets here: the reducer never halts.)
  defp suspended({:halted, {_, acc}}), do: {Enum.reverse(acc), :done}

  defp take_list(rest, 0, acc), do: {:lists.reverse(acc), {:list, rest}}
  defp take_list([item | rest], n, acc), do: take_list(rest, n - 1, [item | acc])
  defp take_list([], _n, acc), do: {:lists.reverse(acc), :done}

  defp take_list(tail, _n, _acc),
    do: raise(ArgumentError, "SnakeBridge.iter: an improper list (its tail: #{inspect(tail)})")

  defp serve({items, :done}, iter, reply) do
    answer(reply, iter, items, false)
    :done
  end

  defp serve({items, source}, iter, reply) do
    if answer(reply, iter, items, true) == false do
      # Nobody waits for this iterator any more (Python dropped it while it started).
      halt(source)
    else
      # A halt goes before requests Python sent ahead of it.
      receive do
        Messages.iter_halt() -> halt(source)
      after
        0 ->
          receive do
            Messages.iter_next() -> serve(take(source, iter.batch), iter, reply)
            Messages.iter_halt() -> halt(source)
          end
      end
    end
  end

  # A suspended enumeration is halted, so its cleanup runs.
  defp halt({:cont, cont}) do
    cont.({:halt, {0, []}})
    :halted
  end

  defp halt(_source), do: :halted

  defp answer(reply, iter, items, more) do
    if iter.mode != :items, do: check_binaries(items, iter.mode)
    # Structs with a SnakeBridge.Encoder are encoded here (Python converts the items on
    # its thread, where no retry is possible); a batch of plain values is not walked twice.
    items = if plain?(items), do: items, else: SnakeBridge.Encoding.encode(items)
    answered = reply.({:ok, {@tag, self(), items, more}})
    # The binaries just sent stay alive while this heap refers to them (until a GC that
    # their off-heap size may not trigger soon): collected now, so the reads that follow
    # can reuse their memory (a 1 GiB File.stream! read 1.5x faster, measured).
    if iter.mode != :items, do: :erlang.garbage_collect()
    answered
  end

  defp plain?([x | rest]) when is_number(x) or is_binary(x) or is_atom(x), do: plain?(rest)
  defp plain?([]), do: true
  defp plain?(_), do: false

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
