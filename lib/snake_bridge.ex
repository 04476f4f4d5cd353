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
    * `getattr/3`, `getattr!/3` - a module attribute (`math.pi`, `numpy.__version__`).
    * `eval/3`, `eval!/3` - a snippet of Python code: an expression's value, or the
      globals that statements leave.
    * `reload/2` - imports an edited module again (`importlib.reload`).
    * `SnakeBridge.Runtime` - the `__runtime__:` options every call takes (timeouts,
      profiles, session, `stream_batch`, stream flow control).

  Values (see the README's Values table):

    * `bytes/1` - a binary sent as Python `bytes` (a `SnakeBridge.Bytes`).
    * `SnakeBridge.Decimal` - a Python `decimal.Decimal`, both ways.
    * `SnakeBridge.Encoder` - a protocol to send your own structs.
    * `SnakeBridge.Complex` - complex numbers, both ways.
    * `SnakeBridge.Array` - numeric arrays as binaries with Nx's types (`from_ref/2`,
      `__runtime__: [arrays: true]`, `to_list/1`; numpy arrays both ways, no copy from
      64 KiB); pandas' `NaT`/`NA` are `nil`, numpy `datetime64` a `NaiveDateTime`.
    * `SnakeBridge.Sigil` - `~PY\"""...\"""`: Python inline, with Elixir variables in and
      assigned names bound back.

  Refs (Python objects with no Elixir value):

    * `SnakeBridge.Ref.getattr/2`, `SnakeBridge.Ref.method/4`, `SnakeBridge.Ref.repr/1` -
      an attribute, a method call, `repr()`; `SnakeBridge.Ref.getattr!/2` and
      `SnakeBridge.Ref.method!/4` raise instead.
    * `SnakeBridge.Ref.setattr/3` - sets an attribute.
    * An iterable Ref is `Enumerable` (a fresh iterator each time, pulled in batches).

  Streams (Python iterators, generators, async generators):

    * `SnakeBridge.StreamRef` - a lazy, stateful `Enumerable`;
      `SnakeBridge.StreamRef.next/2` and `SnakeBridge.StreamRef.next_batch/3` step it
      (also `SnakeBridge.Runtime.stream_next/2` and `SnakeBridge.Runtime.stream_next_batch/3`),
      `SnakeBridge.StreamRef.exhausted?/1` asks whether it ended.
    * `stream/5` - runs a producer on a library thread and calls back with every item,
      with backpressure, `:halt` and a timeout.
    * `iter/2` - the other direction: an Elixir enumerable given to Python as a lazy
      iterator, or (`mode: :binary`) as a file (`SnakeBridge.Iter`).

  Generated wrappers:

    * `use SnakeBridge.Library, python: "module"` (`SnakeBridge.Library`) - an Elixir
      module generated at compile time from a Python module: documented, typespecced
      functions and `!` variants, `name_stream` variants (`streaming:`), class modules
      (`new`, methods, getters), constants, `__functions__/0`, `__classes__/0`.
    * `mix snakebridge.gen module [--out path]` (`Mix.Tasks.Snakebridge.Gen`) - the same
      code as a source file.

  Sessions:

    * `SnakeBridge.Session.start/1`, `SnakeBridge.Session.release/1` - a group of refs
      and streams released at once, optionally bound to one OS thread.
    * `SnakeBridge.Session.with_session/2`, `SnakeBridge.Session.current/0` - the session
      of the calls a process makes.

  Python in a BEAM world (see the README's section of that name):

    * What Python prints during a call goes to the caller's group leader (stderr to
      `:standard_error`); `config :snakebridge, python_logging: :logger` sends Python's
      `logging` records to `Logger`.
    * A call whose result is a coroutine (or any awaitable) returns the awaited value.
    * A pid given to Python has `.send(value)` (and `snakebridge.send(pid, value)`); a
      function given to Python is callable there and runs in a process the caller
      spawns for it (linked, with the caller's group leader and a copy of its process
      dictionary), so the call's timeout holds while it runs.

  Pools (Python on other BEAM nodes; see the README's "Pools and other nodes"):

    * `config :snakebridge, pools: [name: [peers: n] | [nodes: [...]]]` and
      `__runtime__: [pool_name: name]` - run a call on a worker node; its refs and
      streams stay there and every operation on them is routed there.
    * `SnakeBridge.Pool.nodes/1`, `SnakeBridge.Pool.ready/2`, `SnakeBridge.Pool.node_of/1`,
      `SnakeBridge.Pool.start/2`, `SnakeBridge.Pool.stop/1` - a pool's workers, waiting
      for them, where a ref lives, pools at run time.
    * `config :snakebridge, embedded: false` - a node that only routes (no Python).
    * A worker that dies: `{:error, {:worker_down, reason}}` for its calls and refs.

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
      exceptions; a `PythonError`'s message includes the Python traceback
      (`SnakeBridge.PythonError.summary/1` is its first line).

  Lifecycle: when the `:snakebridge` application stops (`Application.stop/1`, the node's
  shutdown), Python's `atexit` handlers run and the child processes Python started are
  ended; Python itself is not finalised (see the README, "When the application stops").

  Bad arguments (a wrong type, an unknown `__runtime__` option) raise `ArgumentError`
  before Python runs. Every other module under `lib/` is internal (`@moduledoc false`).
  """

  alias SnakeBridge.{Request, Runtime}

  import SnakeBridge.Error, only: [ok!: 1]

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
      ...>   SnakeBridge.call("builtins", "len", [make_ref()])
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
  def call!(module, function, args \\ [], opts \\ []),
    do: ok!(call(module, function, args, opts))

  @doc """
  Reads the attribute `name` of the Python module `module` (a dotted path is followed):
  a constant, a version string, a class, a submodule.

  `opts` takes only `__runtime__: [...]` (see `SnakeBridge.Runtime`: `timeout`,
  `session_id`, ...). Returns `{:ok, value}` or `{:error, reason}` (an `AttributeError`
  or `ModuleNotFoundError` as a `SnakeBridge.PythonError`).

      iex> SnakeBridge.getattr("math", "pi")
      {:ok, 3.141592653589793}
      iex> {:ok, {major, _minor, _micro, _level, _serial}} = SnakeBridge.getattr("sys", "version_info")
      iex> major
      3
      iex> SnakeBridge.getattr("os", "path.sep")
      {:ok, "/"}
      iex> {:error, %SnakeBridge.PythonError{type: "AttributeError"}} = SnakeBridge.getattr("math", "tau2")
  """
  @spec getattr(module_name(), String.t(), keyword()) ::
          {:ok, term()} | {:error, SnakeBridge.Error.reason()}
  def getattr(module, name, opts \\ [])

  def getattr(module, name, opts) when is_binary(module) and is_binary(name) do
    runtime = Runtime.runtime_only!("SnakeBridge.getattr/3", opts)

    Runtime.run_op(Runtime.library(module), runtime, [], fn [], ctx ->
      Request.getattr(module, name, ctx)
    end)
  end

  def getattr(module, name, opts),
    do: Runtime.bad_args!("SnakeBridge.getattr/3", module: module, name: name, opts: opts)

  @doc """
  Like `getattr/3`, but returns the value or raises.

      iex> SnakeBridge.getattr!("string", "digits")
      "0123456789"
  """
  @spec getattr!(module_name(), String.t(), keyword()) :: term()
  def getattr!(module, name, opts \\ []), do: ok!(getattr(module, name, opts))

  @doc """
  Runs a snippet of Python code.

  When `code` is one expression, returns its value. Otherwise `code` runs as statements
  and the result is the globals it leaves: a map of every name (those of `globals` too,
  without `__builtins__`), converted like any result, so modules, functions and classes
  are `SnakeBridge.Ref`s.

  `globals` is a map of names (string or atom keys) to values, converted as arguments
  are; it is copied, never changed. `opts` takes only `__runtime__: [...]`: a `timeout`
  stops the code like a call's (`while True: pass` included). Tracebacks name the code
  `<snakebridge.eval:N>` and show its lines.

      iex> SnakeBridge.eval("1 + 2")
      {:ok, 3}
      iex> SnakeBridge.eval("x * y", %{x: 6, y: 7})
      {:ok, 42}
      iex> SnakeBridge.eval("import math\\nr = math.sqrt(n)", %{"n" => 16})
      ...> |> then(fn {:ok, globals} -> Map.take(globals, ["n", "r"]) end)
      %{"n" => 16, "r" => 4.0}
      iex> {:error, %SnakeBridge.PythonError{type: "NameError"}} = SnakeBridge.eval("undefined_name")
      iex> SnakeBridge.eval("while True: pass", %{}, __runtime__: [timeout: 50])
      {:error, :timeout}
  """
  @spec eval(String.t(), %{optional(String.t() | atom()) => term()}, keyword()) ::
          {:ok, term()} | {:error, SnakeBridge.Error.reason()}
  def eval(code, globals \\ %{}, opts \\ [])

  def eval(code, globals, opts) when is_binary(code) and is_map(globals) do
    unless Enum.all?(Map.keys(globals), &Runtime.global_name?/1),
      do: Runtime.bad_args!("SnakeBridge.eval/3", code: code, globals: globals, opts: opts)

    runtime = Runtime.runtime_only!("SnakeBridge.eval/3", opts)
    scope = Map.new(globals, fn {k, v} -> {if(is_atom(k), do: Atom.to_string(k), else: k), v} end)

    Runtime.run_op("builtins", runtime, [code, scope], fn [code, scope], ctx ->
      Request.eval(code, scope, ctx)
    end)
  end

  def eval(code, globals, opts),
    do: Runtime.bad_args!("SnakeBridge.eval/3", code: code, globals: globals, opts: opts)

  @doc """
  Like `eval/3`, but returns the value or raises.

      iex> SnakeBridge.eval!("[c.upper() for c in s]", %{s: "ab"})
      ["A", "B"]
  """
  @spec eval!(String.t(), %{optional(String.t() | atom()) => term()}, keyword()) :: term()
  def eval!(code, globals \\ %{}, opts \\ []), do: ok!(eval(code, globals, opts))

  @doc """
  Imports the Python module `module` again from its source (`importlib.reload`), or for
  the first time: after editing a module, the next calls run the new code (the iex
  edit-reload loop).

  The module object stays the same one (refs to the module see the new functions);
  objects made before (instances, functions held in refs) keep their old code. The
  module's cached bytecode is dropped first, so an edit is never missed because it came
  within the second of the last compile. Returns `:ok`, or `{:error, reason}` (a
  `SyntaxError` in the edited file, say: the module keeps its old contents then).

      iex> SnakeBridge.reload("json")
      :ok
      iex> {:error, %SnakeBridge.PythonError{type: "ModuleNotFoundError"}} = SnakeBridge.reload("no_such_module_sb")
  """
  @spec reload(module_name(), keyword()) :: :ok | {:error, SnakeBridge.Error.reason()}
  def reload(module, opts \\ [])

  def reload(module, opts) when is_binary(module) do
    runtime = Runtime.runtime_only!("SnakeBridge.reload/2", opts)

    case Runtime.run_op(Runtime.library(module), runtime, [], fn [], ctx ->
           Request.reload(module, ctx)
         end) do
      {:ok, true} -> :ok
      {:error, _} = error -> error
    end
  end

  def reload(module, opts),
    do: Runtime.bad_args!("SnakeBridge.reload/2", module: module, opts: opts)

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
  Wraps an Elixir enumerable for Python: given to Python (an argument, inside a
  container, `eval` globals), it is a lazy iterator that pulls `batch:` items at a time
  from the enumerable, which runs in a process of its own linked to the call. With
  `mode: :binary` (or `:text`) it is a read-only file over a stream of binaries. The
  enumerable is halted (its cleanup runs) when Python stops early or the call ends; see
  `SnakeBridge.Iter` for the options and the rules.

      iex> SnakeBridge.call("builtins", "sum", [SnakeBridge.iter(1..1000, batch: 100)])
      {:ok, 500500}
      iex> SnakeBridge.eval("[x * 2 for x in it]", %{"it" => SnakeBridge.iter(Stream.take(1..9, 3))})
      {:ok, [2, 4, 6]}
  """
  @spec iter(Enumerable.t(), keyword()) :: SnakeBridge.Iter.t()
  def iter(enumerable, opts \\ []), do: SnakeBridge.Iter.new(enumerable, opts)

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
