defmodule SnakeBridge.Ref do
  @moduledoc """
  A Python object with no Elixir value: a class instance, a file, a `range`, a module.

  Passing a Ref back as an argument gives Python the same object. The object is released
  when the BEAM collects the last copy of the Ref. An iterable Ref is `Enumerable`, and
  each enumeration starts afresh, from an iterator of its own that it steps in batches
  of 1, 2, 4, ... up to 1024 items per hand-off (never more than about twice the items
  used); an object that is its own iterator (a file) is stepped one item at a time:

      iex> {:ok, range} = SnakeBridge.call("builtins", "range", [10])
      iex> Enum.take(range, 5)
      [0, 1, 2, 3, 4]
      iex> Enum.sum(range)
      45
      iex> Enum.count(range)
      10
  """

  alias SnakeBridge.{Context, Executor, Request, Runtime, StreamRef}

  import SnakeBridge.Error, only: [ok!: 1]

  defstruct [
    :id,
    :type_name,
    :python_module,
    :session_id,
    :pool_name,
    :library,
    :resource,
    :handle
  ]

  @type t :: %__MODULE__{
          id: String.t(),
          type_name: String.t(),
          python_module: String.t(),
          session_id: String.t(),
          pool_name: atom() | String.t() | nil,
          library: String.t() | nil,
          resource: reference(),
          handle: reference() | nil
        }

  @doc """
  The attribute `name` of the object (a dotted path is followed). Works on a
  `SnakeBridge.StreamRef` too (an iterator object's attributes).

      iex> {:ok, ref} = SnakeBridge.call("fractions", "Fraction", [3, 4])
      iex> SnakeBridge.Ref.getattr(ref, "denominator")
      {:ok, 4}
  """
  @spec getattr(t() | StreamRef.t(), String.t()) ::
          {:ok, term()} | {:error, SnakeBridge.Error.reason()}
  def getattr(ref, name) when is_struct(ref, __MODULE__) or is_struct(ref, StreamRef) do
    if is_binary(name),
      do: do_getattr(ref, name),
      else: Runtime.bad_args!("SnakeBridge.Ref.getattr/2", ref: ref, name: name)
  end

  def getattr(ref, name), do: Runtime.bad_args!("SnakeBridge.Ref.getattr/2", ref: ref, name: name)

  defp do_getattr(ref, name) do
    ref.resource
    |> Request.getattr(name, Context.of(ref))
    |> Executor.run(ref.session_id, nil)
    |> Runtime.result()
  end

  @doc """
  Like `getattr/2`, but returns the value or raises.

      iex> ref = SnakeBridge.call!("fractions", "Fraction", [3, 4])
      iex> SnakeBridge.Ref.getattr!(ref, "numerator")
      3
  """
  @spec getattr!(t() | StreamRef.t(), String.t()) :: term()
  def getattr!(ref, name), do: ok!(getattr(ref, name))

  @doc """
  Sets the attribute `name` of the object to `value` (converted as an argument is; a
  dotted path sets the last attribute of the path). Works on a `SnakeBridge.StreamRef`
  too.

  Returns `:ok`, or `{:error, reason}`: an `AttributeError` for a read-only attribute, a
  `SnakeBridge.ConversionError` for a value with no Python form (Python is not called).

      iex> ns = SnakeBridge.call!("types", "SimpleNamespace", [], a: 1)
      iex> SnakeBridge.Ref.setattr(ns, "b", [1, 2])
      :ok
      iex> SnakeBridge.Ref.getattr(ns, "b")
      {:ok, [1, 2]}
      iex> {:error, %SnakeBridge.PythonError{type: "AttributeError"}} =
      ...>   SnakeBridge.Ref.setattr(SnakeBridge.call!("builtins", "range", [3]), "start", 1)
  """
  @spec setattr(t() | StreamRef.t(), String.t(), term()) ::
          :ok | {:error, SnakeBridge.Error.reason()}
  def setattr(ref, name, value)
      when (is_struct(ref, __MODULE__) or is_struct(ref, StreamRef)) and is_binary(name) do
    timeout = Runtime.deadline(Runtime.resolve_timeout(:timeout, ref.library, []))
    ctx = Context.of(ref)

    send = fn [value], _ ->
      Executor.run(Request.setattr(ref, name, value, ctx), ref.session_id, timeout)
    end

    case [value] |> send.([]) |> SnakeBridge.Encoding.retry([value], [], send) do
      {:ok, true} -> :ok
      error -> Runtime.result(error)
    end
  end

  def setattr(ref, name, _value),
    do: Runtime.bad_args!("SnakeBridge.Ref.setattr/3", ref: ref, name: name)

  @doc """
  Calls the method `name` with `args`; keyword `opts` are Python kwargs, as in
  `SnakeBridge.call/4`. Works on a `SnakeBridge.StreamRef` too (a sqlite3 cursor is an
  iterator: `Ref.method(cursor, "fetchall")`).

      iex> {:ok, third} = SnakeBridge.call("fractions", "Fraction", [1, 3])
      iex> SnakeBridge.Ref.method(third, "as_integer_ratio")
      {:ok, {1, 3}}
      iex> {:ok, half} = SnakeBridge.Ref.method(third, "limit_denominator", [], max_denominator: 2)
      iex> SnakeBridge.Ref.method(half, "as_integer_ratio")
      {:ok, {1, 2}}
  """
  @spec method(t() | StreamRef.t(), String.t(), list(), keyword()) ::
          {:ok, term()} | {:error, SnakeBridge.Error.reason()}
  def method(ref, name, args \\ [], opts \\ [])

  def method(ref, name, args, opts)
      when (is_struct(ref, __MODULE__) or is_struct(ref, StreamRef)) and is_binary(name) and
             is_list(args) and is_list(opts) do
    # What the method returns belongs to the same session and pool as the object.
    carried =
      Enum.reject([session_id: ref.session_id, pool_name: ref.pool_name], &is_nil(elem(&1, 1)))

    opts = Keyword.update(opts, :__runtime__, carried, &Keyword.merge(carried, &1))

    Runtime.invoke(ref, ref.library, name, args, opts)
  end

  def method(ref, name, args, opts),
    do:
      Runtime.bad_args!("SnakeBridge.Ref.method/4", ref: ref, name: name, args: args, opts: opts)

  @doc """
  Like `method/4`, but returns the value or raises.

      iex> half = SnakeBridge.call!("fractions", "Fraction", [1, 2])
      iex> SnakeBridge.Ref.method!(half, "as_integer_ratio")
      {1, 2}
  """
  @spec method!(t() | StreamRef.t(), String.t(), list(), keyword()) :: term()
  def method!(ref, name, args \\ [], opts \\ []), do: ok!(method(ref, name, args, opts))

  @doc """
  `repr()` of the object.

      iex> {:ok, ref} = SnakeBridge.call("builtins", "range", [3])
      iex> SnakeBridge.Ref.repr(ref)
      "range(0, 3)"
  """
  @spec repr(t()) :: String.t()
  def repr(%__MODULE__{} = ref) do
    case Executor.run(Request.repr(ref), ref.session_id, nil) do
      {:ok, text} -> text
      {:error, reason} -> Runtime.raise_error!({:error, reason})
    end
  end

  defimpl Inspect do
    # A repr can be huge (a large array): show the start; `Ref.repr/1` gives it whole.
    @max 240

    # Inspect runs in IEx, Logger and crash reports: a slow or hanging __repr__ must not
    # hold them up. Past this it shows the type and id; `Ref.repr/1` waits.
    @repr_ms 100

    def inspect(ref, _opts) do
      repr =
        case Executor.run_bounded(Request.repr(ref), ref.session_id, @repr_ms) do
          {:ok, text} when byte_size(text) > @max -> String.slice(text, 0, @max) <> "..."
          {:ok, text} -> text
          {:error, _} -> "#{ref.python_module}.#{ref.type_name} #{ref.id}"
        end

      "#SnakeBridge.Ref<" <> repr <> ">"
    end
  end

  defimpl Enumerable do
    alias SnakeBridge.{Executor, Request, Runtime}

    # Each enumeration gets a fresh iterator of its own, so items may be pulled ahead:
    # 1, 2, 4, ... up to @max_batch per hand-off (never more than about twice the
    # items used). At @max_batch the next batch is asked for before the items of this
    # one are used, so Python produces it meanwhile (`ahead`: the request in flight, or
    # nil; waited for before a halt, a suspension or a raise ends the use of this one).
    # An object that is its own iterator (a file) is shared state: it is stepped
    # strictly one item at a time, as a StreamRef.
    @max_batch 1024

    def reduce(ref, acc, fun) do
      case Executor.run(Request.iter(ref), ref.session_id, nil) do
        {:ok, {stream, true}} -> Enumerable.reduce(stream, acc, fun)
        {:ok, {stream, false}} -> step([], stream, 1, nil, acc, fun)
        {:error, reason} -> Runtime.raise_error!({:error, reason})
      end
    end

    defp step(_items, _it, _n, ahead, {:halt, acc}, _fun) do
      landed(ahead)
      {:halted, acc}
    end

    defp step(items, it, n, ahead, {:suspend, acc}, fun) do
      items = items ++ landed(ahead)
      {:suspended, acc, &step(items, it, n, nil, &1, fun)}
    end

    defp step([item | rest], it, n, nil, {:cont, acc}, fun),
      do: step(rest, it, n, nil, fun.(item, acc), fun)

    defp step([item | rest], it, n, ahead, {:cont, acc}, fun) do
      next =
        try do
          fun.(item, acc)
        catch
          kind, reason ->
            landed(ahead)
            :erlang.raise(kind, reason, __STACKTRACE__)
        end

      step(rest, it, n, ahead, next, fun)
    end

    defp step([], it, n, ahead, {:cont, acc}, fun) do
      result =
        if ahead,
          do: Executor.finish(ahead),
          else: fetch(Request.next_batch(it, n), it.session_id, n)

      case result do
        {:ok, items} ->
          ahead =
            if n == @max_batch,
              do: Executor.start(Request.next_batch(it, n), it.session_id, nil)

          step(items, it, min(2 * n, @max_batch), ahead, {:cont, acc}, fun)

        {:error, :stop_iteration} ->
          {:done, acc}

        {:error, reason} ->
          Runtime.raise_error!({:error, reason})
      end
    end

    # Batches of many items rarely come within the NIF's short watch for an answer.
    defp fetch(request, route, n) when n >= 64, do: Executor.run_unwatched(request, route, nil)
    defp fetch(request, route, _n), do: Executor.run(request, route, nil)

    defp landed(nil), do: []

    defp landed(ahead) do
      case Executor.finish(ahead) do
        {:ok, items} -> items
        {:error, _} -> []
      end
    end

    def count(ref) do
      case Executor.run(Request.len(ref), ref.session_id, nil) do
        {:ok, n} -> {:ok, n}
        {:error, _} -> {:error, __MODULE__}
      end
    end

    def member?(_ref, _value), do: {:error, __MODULE__}
    def slice(_ref), do: {:error, __MODULE__}
  end
end
