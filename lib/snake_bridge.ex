defmodule SnakeBridge do
  @moduledoc """
  Python, embedded in the BEAM.

  Calls run in this OS process, on threads the library owns (never on a BEAM
  scheduler): no worker process, no serialization. See the README's Tuning section.
  Values are converted both ways (see the README's table); Python iterators and
  generators come back as lazy `SnakeBridge.StreamRef`s, other objects as
  `SnakeBridge.Ref`s.

      iex> SnakeBridge.call("math", "sqrt", [16])
      {:ok, 4.0}
      iex> SnakeBridge.call("builtins", "sorted", [[3, 1, 2]], reverse: true)
      {:ok, [3, 2, 1]}
      iex> {:ok, counter} = SnakeBridge.call("itertools", "count", [1])
      iex> Enum.take(counter, 3)
      [1, 2, 3]

  ## The public API

  Calling:

    * `call/4`, `call!/4` - `module.function(*args, **kwargs)`; the value, or why not.
    * `SnakeBridge.Runtime` - the `__runtime__:` options every call takes (timeouts,
      profiles, session, `stream_batch`, stream flow control).

  Values (see the README's Values table):

    * `bytes/1` - a binary sent as Python `bytes` (a `SnakeBridge.Bytes`).
    * `SnakeBridge.Decimal` - a Python `decimal.Decimal`, both ways.
    * `SnakeBridge.Encoder` - a protocol to send your own structs.

  Refs (Python objects with no Elixir value):

    * `SnakeBridge.Ref.getattr/2`, `SnakeBridge.Ref.method/4`, `SnakeBridge.Ref.repr/1` -
      an attribute, a method call, `repr()`; an iterable Ref is `Enumerable`.

  Streams (Python iterators, generators, async generators):

    * `SnakeBridge.StreamRef` - a lazy, stateful `Enumerable`;
      `SnakeBridge.StreamRef.next/2` and `SnakeBridge.StreamRef.next_batch/3` step it
      (also `SnakeBridge.Runtime.stream_next/2` and `SnakeBridge.Runtime.stream_next_batch/3`),
      `SnakeBridge.StreamRef.exhausted?/1` asks whether it ended.
    * `stream/5` - runs a producer on a library thread and calls back with every item,
      with backpressure, `:halt` and a timeout.

  Sessions:

    * `SnakeBridge.Session.start/1`, `SnakeBridge.Session.release/1` - a group of refs
      and streams released at once, optionally bound to one OS thread.
    * `SnakeBridge.Session.with_session/2`, `SnakeBridge.Session.current/0` - the session
      of the calls a process makes.

  Runtime and configuration:

    * `SnakeBridge.Runtime.resolve_timeout/3` - the timeout a call gets, by precedence.
    * `SnakeBridge.Runtime.reload_config/0` - reads `config :snakebridge` again.
    * `SnakeBridge.Runtime.thread_stats/0` - what the library's threads are doing.

  Wire format:

    * `SnakeBridge.StreamRef.to_wire_format/1`, `SnakeBridge.StreamRef.from_wire_format/1`
      - a stream as a JSON-ready map, and back while it lives.
    * `SnakeBridge.Wire.encode/1`, `SnakeBridge.Wire.decode/1` - that map as JSON.

  Errors:

    * `t:SnakeBridge.Error.reason/0` - every `{:error, reason}` the library returns.
    * `SnakeBridge.Error.to_exception/1` - the exception a `!` function raises for a reason.
    * `SnakeBridge.PythonError`, `SnakeBridge.ConversionError`, `SnakeBridge.Error` - the
      exceptions.

  Bad arguments (a wrong type, an unknown `__runtime__` option) raise `ArgumentError`
  before Python runs. Every other module under `lib/` is internal (`@moduledoc false`).
  """

  alias SnakeBridge.Runtime

  @typedoc "A Python module name, such as `\"os.path\"`."
  @type module_name :: String.t()

  @doc """
  Calls `module.function(*args, **kwargs)`.

  Keyword `opts` are Python keyword arguments, except `__runtime__: [...]` (see
  `SnakeBridge.Runtime`). `function` may be a dotted path (`"datetime.now"`).

  Returns `{:ok, value}` or `{:error, reason}` (see `t:SnakeBridge.Error.reason/0`): a
  `SnakeBridge.PythonError`, a `SnakeBridge.ConversionError` (Python was not called),
  `:timeout`, or `:released` (a ref of a released session was passed).

      iex> SnakeBridge.call("operator", "add", [1, 2])
      {:ok, 3}
      iex> {:error, %SnakeBridge.PythonError{type: "ZeroDivisionError"}} =
      ...>   SnakeBridge.call("operator", "truediv", [1, 0])
      iex> {:error, %SnakeBridge.ConversionError{path: [{:arg, 0}]}} =
      ...>   SnakeBridge.call("builtins", "len", [self()])
  """
  @spec call(module_name(), String.t(), list(), keyword()) ::
          {:ok, term()} | {:error, SnakeBridge.Error.reason()}
  def call(module, function, args \\ [], opts \\ [])

  def call(module, function, args, opts)
      when is_binary(module) and is_binary(function) and is_list(args) and is_list(opts) do
    Runtime.invoke(module, module, function, args, opts)
  end

  def call(module, function, args, opts),
    do:
      Runtime.bad_args!("SnakeBridge.call/4",
        module: module,
        function: function,
        args: args,
        opts: opts
      )

  @doc """
  Like `call/4`, but returns the value or raises.

      iex> SnakeBridge.call!("math", "factorial", [25])
      15511210043330985984000000
  """
  @spec call!(module_name(), String.t(), list(), keyword()) :: term()
  def call!(module, function, args \\ [], opts \\ []) do
    case call(module, function, args, opts) do
      {:ok, value} -> value
      {:error, reason} -> raise SnakeBridge.Error.to_exception(reason)
    end
  end

  @doc """
  Marks `binary` to be sent to Python as `bytes` (a plain binary that is valid UTF-8
  becomes a `str`).

      iex> SnakeBridge.call("builtins", "len", [SnakeBridge.bytes("héllo")])
      {:ok, 6}
      iex> SnakeBridge.call("builtins", "bytes.hex", [SnakeBridge.bytes("abc")])
      {:ok, "616263"}
  """
  @spec bytes(binary()) :: SnakeBridge.Bytes.t()
  def bytes(binary) when is_binary(binary), do: %SnakeBridge.Bytes{data: binary}
  def bytes(other), do: Runtime.bad_args!("SnakeBridge.bytes/1", binary: other)

  @doc """
  Runs `module.function(*args, **kwargs)` on a library thread and calls `callback` with
  every item it yields, in order, in the calling process.

  A generator, iterator or async generator is iterated; any other result is one chunk.
  `callback` returns `:ok` to go on or `:halt` to stop early (the producer is stopped
  and its generator closed, so its `finally` runs). An exception raised by the
  callback stops the producer first and is then re-raised here; any other return value
  (`nil`, `{:ok, x}`, ...) is a bug in the callback: the producer is stopped likewise and
  an `ArgumentError` is raised.

  Items travel in batches (up to `stream_chunk` items per message, 1024 by default,
  sent sooner when the producer is slow), with at most `stream_window` batches (8)
  unacknowledged, so a fast producer waits for a slow callback.

  Returns `:ok`, `{:error, :timeout}` after `stream_timeout` (see
  `SnakeBridge.Runtime`; the Python code is stopped), or `{:error, reason}`. After it
  returns, no message of this stream is left in the mailbox or arrives later.

      iex> SnakeBridge.stream("builtins", "range", [3], [], fn x -> send(self(), {:got, x}); :ok end)
      :ok
      iex> for _ <- 1..3, do: receive(do: ({:got, x} -> x))
      [0, 1, 2]
  """
  @spec stream(module_name(), String.t(), list(), keyword(), (term() -> :ok | :halt)) ::
          :ok | {:error, SnakeBridge.Error.reason()}
  def stream(module, function, args, opts, callback)
      when is_binary(module) and is_binary(function) and is_list(args) and is_list(opts) and
             is_function(callback, 1) do
    SnakeBridge.Streamer.run(module, function, args, opts, callback)
  end

  def stream(module, function, args, opts, callback) do
    Runtime.bad_args!("SnakeBridge.stream/5",
      module: module,
      function: function,
      args: args,
      opts: opts,
      callback: callback
    )
  end
end
