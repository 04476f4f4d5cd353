defmodule SnakeBridge.Runtime do
  @moduledoc """
  Stepping streams, and the runtime options every call takes under `__runtime__:`.

  ## Runtime options

    * `:timeout` - for `SnakeBridge.call/4`: milliseconds or `:infinity`. At the deadline
      the Python code is stopped and the call returns `{:error, :timeout}`.
    * `:stream_timeout` - for `SnakeBridge.stream/5`, likewise.
    * `:profile` - a profile name from `config :snakebridge, runtime: [profiles: ...]`.
    * `:session_id`, `:pool_name` - carried by the refs that the call returns.
    * `:stream_batch` - items pulled per step for a StreamRef the call returns (1, the
      default, is strictly lazy; at most 1 000 000).
    * `:stream_window`, `:stream_chunk`, `:stream_bytes` - for `SnakeBridge.stream/5`:
      unacknowledged batches (8), items per batch (1024), unacknowledged bytes (64 MiB).
    * `:arrays` - `true`: objects with a numeric buffer in the result (numpy arrays,
      `array.array`, `memoryview`, at any depth, and the items of a StreamRef it returns)
      come back as `SnakeBridge.Array`s instead of Refs (`false`, the default).

  Options are checked before Python runs: an unknown key or a bad value raises
  `ArgumentError` naming it.

  A timeout is taken from the explicit option, then the `:profile`, then the library's
  profile (`library_profiles`), then `default_timeout` / `default_stream_timeout`
  (read when the application starts; see `reload_config/0`):

      config :snakebridge,
        runtime: [
          default_timeout: :infinity,
          default_stream_timeout: 1_800_000,
          profiles: %{ml_inference: [timeout: 600_000, stream_timeout: 1_800_000]},
          library_profiles: %{"transformers" => :ml_inference}
        ]
  """

  alias SnakeBridge.{Context, Executor, Native, Request, StreamRef}

  @fast_key {__MODULE__, :default_timeouts}
  @defaults [timeout: :infinity, stream_timeout: 1_800_000]

  @typedoc "Milliseconds, or `:infinity`."
  @type timeout_value :: non_neg_integer() | :infinity

  @doc """
  The next item of a stream.

  Returns `{:ok, item}`, `{:error, :stop_iteration}` once the iterator is exhausted (and on
  every later call, without running Python), or `{:error, reason}`. The `:timeout` option
  bounds the time Python may take for this item.

      iex> {:ok, it} = SnakeBridge.call("builtins", "iter", [[1, 2]])
      iex> SnakeBridge.Runtime.stream_next(it)
      {:ok, 1}
      iex> SnakeBridge.Runtime.stream_next(it)
      {:ok, 2}
      iex> SnakeBridge.Runtime.stream_next(it)
      {:error, :stop_iteration}
  """
  @spec stream_next(StreamRef.t(), keyword()) ::
          {:ok, term()} | {:error, SnakeBridge.Error.reason()}
  def stream_next(stream_ref, opts \\ [])

  def stream_next(%StreamRef{resource: res, batch: batch} = ref, opts)
      when batch > 1 and node(res) == node() do
    # Items pulled ahead (and the end) come without a hand-off to a Python thread.
    case Native.stream_next_ready(res) do
      :python -> next(ref, opts)
      ready -> result(ready)
    end
  end

  def stream_next(%StreamRef{} = ref, opts) when is_list(opts), do: next(ref, opts)

  def stream_next(ref, opts),
    do: bad_args!("SnakeBridge.Runtime.stream_next/2", stream_ref: ref, opts: opts)

  defp next(%StreamRef{session_id: session} = ref, opts) do
    ref |> Request.next() |> Executor.run(session, deadline(opts[:timeout])) |> result()
  end

  # stream_next_batch of at least this many items does not watch for a quick answer.
  @unwatched_batch 64

  @doc """
  Up to `max` items at once, pulled from Python under one GIL acquisition.

  Returns `{:ok, items}` (1 to `max` items), `{:error, :stop_iteration}` at the end, or
  `{:error, reason}`. Items not asked for are never pulled.

      iex> {:ok, it} = SnakeBridge.call("builtins", "iter", [[1, 2, 3]])
      iex> SnakeBridge.Runtime.stream_next_batch(it, 2)
      {:ok, [1, 2]}
      iex> SnakeBridge.Runtime.stream_next_batch(it, 2)
      {:ok, [3]}
      iex> SnakeBridge.Runtime.stream_next_batch(it, 2)
      {:error, :stop_iteration}
  """
  @spec stream_next_batch(StreamRef.t(), pos_integer(), keyword()) ::
          {:ok, [term()]} | {:error, SnakeBridge.Error.reason()}
  def stream_next_batch(stream_ref, max, opts \\ [])

  def stream_next_batch(%StreamRef{session_id: session} = ref, max, opts)
      when is_integer(max) and max > 0 and is_list(opts) do
    request = Request.next_batch(ref, max)
    timeout = deadline(opts[:timeout])

    # A batch of many items rarely comes within the NIF's short watch for an answer.
    if max >= @unwatched_batch,
      do: request |> Executor.run_unwatched(session, timeout) |> result(),
      else: request |> Executor.run(session, timeout) |> result()
  end

  def stream_next_batch(ref, max, opts),
    do:
      bad_args!("SnakeBridge.Runtime.stream_next_batch/3", stream_ref: ref, max: max, opts: opts)

  @doc false
  # A call on a module (by name) or on a Ref's object.
  def invoke(on, library_of, function, args, opts) do
    {runtime, kwargs} = split_opts(opts)
    library = library(library_of)
    timeout = deadline(resolve_timeout(:timeout, library, runtime))
    %Context{session_id: session} = ctx = ctx(library, runtime)

    case Executor.run(Request.call(on, function, args, kwargs, ctx), session, timeout) do
      {:ok, _} = ok ->
        ok

      # A struct refused before Python ran: sent again if a SnakeBridge.Encoder encodes it.
      {:error, _} = refused ->
        SnakeBridge.Encoding.retry(refused, args, kwargs, fn args, kwargs ->
          Executor.run(Request.call(on, function, args, kwargs, ctx), session, timeout)
        end)
    end
    |> result()
    |> apply_batch(runtime[:stream_batch])
  end

  @doc false
  # An operation that is not a call (getattr on a module, eval, reload): queued, timed
  # out and answered like a call. `request.(args, ctx)` makes it from its values and the
  # context the answer's refs carry; values holding structs with a SnakeBridge.Encoder
  # are encoded and sent again, as a call's arguments are.
  def run_op(library, runtime, args, request) when is_function(request, 2) do
    timeout = deadline(resolve_timeout(:timeout, library, runtime))
    %Context{session_id: session} = ctx = ctx(library, runtime)
    send = fn args, _kwargs -> args |> request.(ctx) |> Executor.run(session, timeout) end

    args
    |> send.([])
    |> SnakeBridge.Encoding.retry(args, [], send)
    |> result()
  end

  @doc false
  # Options of a function that takes only `__runtime__: [...]`: the runtime options,
  # checked (anything else is an ArgumentError naming it).
  def runtime_only!(_function, []), do: []

  def runtime_only!(function, opts) do
    unless is_list(opts) and Keyword.keyword?(opts), do: bad_args!(function, opts: opts)

    case Keyword.pop(opts, :__runtime__, []) do
      {runtime, []} ->
        validate!(runtime)

      {_, other} ->
        raise ArgumentError,
              "#{function}: only __runtime__: [...] options are taken, got: " <>
                inspect(Keyword.keys(other))
    end
  end

  # The common case, no options at all, without walking a keyword list.
  defp split_opts([]), do: {[], []}

  defp split_opts(opts) do
    unless Keyword.keyword?(opts),
      do: bad_args!("SnakeBridge.call/4", opts: opts)

    {runtime, kwargs} = Keyword.pop(opts, :__runtime__, [])
    {validate!(runtime), kwargs}
  end

  @doc false
  # The one place a public function refuses arguments of the wrong kind: an ArgumentError
  # that names the first bad one and what it should be.
  @spec bad_args!(String.t(), keyword()) :: no_return()
  def bad_args!(function, args) do
    {name, value} =
      Enum.find(args, fn {name, value} -> not valid_arg?(name, value) end) || hd(args)

    raise ArgumentError,
          "#{function}: #{name} must be #{arg_kind(name)}, got: #{inspect(value, limit: 10)}"
  end

  defp valid_arg?(name, v) when name in [:module, :function, :name, :code], do: is_binary(v)
  defp valid_arg?(:globals, v), do: is_map(v) and Enum.all?(Map.keys(v), &global_name?/1)
  defp valid_arg?(:args, v), do: is_list(v)
  defp valid_arg?(:opts, v), do: is_list(v) and Keyword.keyword?(v)
  defp valid_arg?(:callback, v), do: is_function(v, 1)
  defp valid_arg?(:stream_ref, v), do: is_struct(v, StreamRef)
  defp valid_arg?(:ref, v), do: is_struct(v, SnakeBridge.Ref) or is_struct(v, StreamRef)
  defp valid_arg?(:max, v), do: is_integer(v) and v > 0
  defp valid_arg?(:json, v), do: is_binary(v)
  defp valid_arg?(:binary, v), do: is_binary(v)
  defp valid_arg?(_, _), do: true

  @doc false
  def global_name?(key), do: is_binary(key) or (is_atom(key) and key not in [nil, true, false])

  defp arg_kind(:module), do: ~s(a module name string such as "math")
  defp arg_kind(:function), do: ~s(a function name string such as "sqrt")
  defp arg_kind(:name), do: "a string"
  defp arg_kind(:code), do: "a string of Python code"
  defp arg_kind(:globals), do: "a map with string or atom keys"
  defp arg_kind(:args), do: "a list"
  defp arg_kind(:opts), do: "a keyword list"
  defp arg_kind(:callback), do: "a function of one argument"
  defp arg_kind(:stream_ref), do: "a %SnakeBridge.StreamRef{}"
  defp arg_kind(:ref), do: "a %SnakeBridge.Ref{} or %SnakeBridge.StreamRef{}"
  defp arg_kind(:max), do: "a positive integer"
  defp arg_kind(:json), do: "a binary"
  defp arg_kind(:binary), do: "a binary"

  @doc false
  # Runtime options are checked before Python runs: an unknown key or a bad value is an
  # ArgumentError naming it (a typo must not be ignored silently).
  def validate!(runtime) when is_list(runtime) do
    Enum.each(runtime, fn
      {key, value} when is_atom(key) ->
        check_option(key, value)

      other ->
        raise ArgumentError, "__runtime__ options must be a keyword list, got: #{inspect(other)}"
    end)

    runtime
  end

  def validate!(other),
    do: raise(ArgumentError, "__runtime__ must be a keyword list, got: #{inspect(other)}")

  @max_batch 1_000_000

  defp check_option(key, v) when key in [:timeout, :stream_timeout] do
    unless v == :infinity or (is_integer(v) and v >= 0),
      do: bad_option!(key, v, "a non-negative integer (ms) or :infinity")
  end

  defp check_option(:session_id, v) when is_binary(v) or is_atom(v), do: :ok
  defp check_option(:pool_name, v) when is_atom(v) or is_binary(v), do: :ok

  defp check_option(:profile, v) do
    unless is_map_key(Keyword.get(config(), :profiles, %{}), v),
      do: bad_option!(:profile, v, "a profile of config :snakebridge, runtime: [profiles: ...]")
  end

  defp check_option(:stream_batch, v) when is_integer(v) and v in 1..@max_batch, do: :ok
  # :strict is SnakeBridge.Array.from_ref/2's (an object without a buffer is an error).
  defp check_option(:arrays, v) when is_boolean(v) or v == :strict, do: :ok

  defp check_option(key, v)
       when key in [:stream_window, :stream_chunk, :stream_bytes] and is_integer(v) and v > 0 and
              v < 0x100000000,
       do: :ok

  defp check_option(key, v)
       when key in [
              :session_id,
              :pool_name,
              :arrays,
              :stream_batch,
              :stream_window,
              :stream_chunk,
              :stream_bytes
            ],
       do: bad_option!(key, v, expected(key))

  defp check_option(key, _v) do
    raise ArgumentError,
          "unknown __runtime__ option #{inspect(key)}; known: :timeout, :stream_timeout, :profile, " <>
            ":session_id, :pool_name, :stream_batch, :stream_window, :stream_chunk, :stream_bytes, " <>
            ":arrays"
  end

  defp expected(:session_id), do: "a string or an atom"
  defp expected(:pool_name), do: "an atom or a string"
  defp expected(:arrays), do: "a boolean"
  defp expected(:stream_batch), do: "an integer from 1 to #{@max_batch}"
  defp expected(_), do: "a positive integer"

  defp bad_option!(key, value, expected) do
    raise ArgumentError,
          "__runtime__ option #{inspect(key)} must be #{expected}, got: #{inspect(value)}"
  end

  defp apply_batch({:ok, %StreamRef{} = ref}, n) when is_integer(n) and n > 1 do
    {:ok, true} = Executor.run(Request.set_batch(ref, n), ref.session_id, nil)
    {:ok, %StreamRef{ref | batch: n}}
  end

  defp apply_batch(result, _), do: result

  @doc false
  # The context a call's refs carry.
  @spec ctx(String.t() | nil, keyword()) :: Context.t()
  def ctx(library, runtime) do
    session =
      case Keyword.get(runtime, :session_id) do
        nil -> SnakeBridge.Session.current() || Context.default_session()
        id when is_binary(id) -> id
        id -> to_string(id)
      end

    # A session started on a pool takes its calls there (SnakeBridge.Session.start/1).
    pool =
      Keyword.get_lazy(runtime, :pool_name, fn ->
        if session != Context.default_session(), do: SnakeBridge.Pool.Sessions.pool_of(session)
      end)

    %Context{
      session_id: session,
      pool: pool,
      library: library,
      arrays: Keyword.get(runtime, :arrays, false)
    }
  end

  @doc false
  # "os.path" -> "os" (a byte scan: :binary.match compiles a pattern on every call).
  def library(module) when is_binary(module), do: until_dot(module, module, 0)
  def library(_), do: nil

  defp until_dot(<<?., _::binary>>, module, n), do: binary_part(module, 0, n)
  defp until_dot(<<_, rest::binary>>, module, n), do: until_dot(rest, module, n + 1)
  defp until_dot(<<>>, module, _n), do: module

  @doc """
  The timeout (`:timeout` or `:stream_timeout`) that applies to a call of `library` with
  these runtime options, by the precedence above.

      iex> SnakeBridge.Runtime.resolve_timeout(:timeout, "math", timeout: 50)
      50
      iex> SnakeBridge.Runtime.resolve_timeout(:stream_timeout, "math", [])
      1800000
  """
  @spec resolve_timeout(:timeout | :stream_timeout, String.t() | nil, keyword()) ::
          timeout_value()
  def resolve_timeout(key, library, runtime) when key in [:timeout, :stream_timeout] do
    # No options and no library profiles: the default, without walking the config.
    case runtime == [] and :persistent_term.get(@fast_key, nil) do
      %{^key => value} -> value
      _ -> resolve(key, library, runtime)
    end
  end

  defp resolve(key, library, runtime) do
    config = config()
    profiles = Keyword.get(config, :profiles, %{})
    library_profile = Map.get(Keyword.get(config, :library_profiles, %{}), library)

    with :error <- Keyword.fetch(runtime, key),
         :error <- from_profile(profiles, runtime[:profile], key),
         :error <- from_profile(profiles, library_profile, key) do
      default(config, key)
    else
      {:ok, value} -> value
    end
  end

  defp default(config, :timeout), do: Keyword.get(config, :default_timeout, @defaults[:timeout])

  defp default(config, :stream_timeout),
    do: Keyword.get(config, :default_stream_timeout, @defaults[:stream_timeout])

  @config_key {__MODULE__, :config}

  @doc """
  Reads `config :snakebridge, runtime: [...]` and the thread settings again.

  The configuration is read when `:snakebridge` starts and kept where every call can read
  it without copying; call this after changing it with `Application.put_env/3`. The
  thread settings (see the README's Tuning section):

    * `:threads` - threads for calls, methods, attributes and `stream_next` (8);
    * `:stream_threads` - threads for `SnakeBridge.stream/5` producers (32);
    * `:spin_us` - how long an idle thread spins for the next job before it sleeps (100);
    * `:watch_us` - how long a caller watches for a quick answer before it waits for a
      message (20);
    * `:spin_give_way` - whether a spinning or watching thread gives its core to other
      threads between looks once it has waited a while (`false`; pool workers: `true`);
    * `:thread_idle_ms` - how long an idle thread lives (10 000).
  """
  @spec reload_config() :: :ok
  def reload_config do
    config = Application.get_env(:snakebridge, :runtime, [])
    :persistent_term.put(@config_key, config)

    # Calls with no options skip the profile lookups when no profile can apply.
    fast =
      if Keyword.get(config, :library_profiles, %{}) == %{},
        do: %{
          timeout: default(config, :timeout),
          stream_timeout: default(config, :stream_timeout)
        }

    :persistent_term.put(@fast_key, fast)
    env = &Application.get_env(:snakebridge, &1, &2)

    true =
      Native.configure_threads(
        positive!(:threads, env.(:threads, 8)),
        positive!(:stream_threads, env.(:stream_threads, 32)),
        {non_neg!(:spin_us, env.(:spin_us, 100)), non_neg!(:watch_us, env.(:watch_us, 20)),
         boolean!(:spin_give_way, env.(:spin_give_way, false))},
        positive!(:thread_idle_ms, env.(:thread_idle_ms, 10_000))
      )

    :ok
  end

  defp boolean!(_key, b) when is_boolean(b), do: b

  defp boolean!(key, other),
    do:
      raise(
        ArgumentError,
        "config :snakebridge, #{key}: must be a boolean, got: #{inspect(other)}"
      )

  defp positive!(_key, n) when is_integer(n) and n > 0, do: n

  defp positive!(key, n),
    do:
      raise(
        ArgumentError,
        "config :snakebridge, #{key}: must be a positive integer, got: #{inspect(n)}"
      )

  defp non_neg!(_key, n) when is_integer(n) and n >= 0, do: n

  defp non_neg!(key, n),
    do:
      raise(
        ArgumentError,
        "config :snakebridge, #{key}: must be a non-negative integer, got: #{inspect(n)}"
      )

  @typedoc "What one group of the library's threads is doing (see `thread_stats/0`)."
  @type stats :: %{
          max: pos_integer(),
          threads: non_neg_integer(),
          busy: non_neg_integer(),
          queued: non_neg_integer(),
          done: non_neg_integer()
        }

  @doc """
  What the library's threads are doing now, per group: `:calls` (calls, methods,
  attributes, `stream_next`), `:streams` (`SnakeBridge.stream/5` producers), `:cleanup`
  (releasing objects the BEAM collected; four threads) and `:lanes` (the threads of
  thread-affine sessions, summed). `queued` jobs wait for a free thread:
  when every thread is busy, work queues (it is never refused).

      iex> %{calls: %{max: max, queued: queued}} = SnakeBridge.Runtime.thread_stats()
      iex> max > 0 and queued >= 0
      true
  """
  @spec thread_stats() :: %{
          calls: stats(),
          streams: stats(),
          cleanup: stats(),
          lanes: stats()
        }
  def thread_stats do
    for {group, max, threads, busy, queued, done} <- Native.thread_stats(), into: %{} do
      {String.to_atom(group),
       %{max: max, threads: threads, busy: busy, queued: queued, done: done}}
    end
  end

  defp config do
    case :persistent_term.get(@config_key, nil) do
      nil -> Application.get_env(:snakebridge, :runtime, [])
      config -> config
    end
  end

  defp from_profile(_profiles, nil, _key), do: :error

  defp from_profile(profiles, name, key) do
    profiles |> Map.get(name, []) |> Keyword.fetch(key)
  end

  @doc false
  def deadline(nil), do: nil
  def deadline(:infinity), do: nil
  def deadline(ms) when is_integer(ms) and ms >= 0, do: ms

  @doc false
  # Turns what the NIF returns into the public shape, in one place.
  def result({:ok, _} = ok), do: ok
  def result({:error, reason}), do: {:error, error(reason)}

  defp error({:python_error, type, message, traceback}),
    do: %SnakeBridge.PythonError{type: type, message: message, traceback: traceback}

  defp error({:unconvertible, term, path}),
    do: %SnakeBridge.ConversionError{term: term, path: path}

  defp error({:duplicate_key, term, path}),
    do: %SnakeBridge.ConversionError{term: term, path: path, reason: :duplicate_key}

  defp error(reason), do: reason

  @doc false
  # Raises for an error as the NIF returned it (Enumerable, repr): the public reason's
  # exception, made by SnakeBridge.Error.to_exception/1 like every other raise.
  @spec raise_error!({:error, SnakeBridge.Error.reason()}) :: no_return()
  def raise_error!({:error, _} = error) do
    {:error, reason} = result(error)
    raise SnakeBridge.Error.to_exception(reason)
  end
end
