defmodule SnakeBridge.Error do
  @moduledoc """
  Every error the library returns as `{:error, reason}` (see `t:reason/0`), and the
  exception for a failure that is not a Python exception or a conversion error.

  `to_exception/1` is the one place a reason becomes an exception: every `!` function
  and every enumeration that fails raises what it returns.

      iex> SnakeBridge.Error.to_exception(:timeout)
      %SnakeBridge.Error{reason: :timeout}
      iex> Exception.message(SnakeBridge.Error.to_exception(:released))
      "the object's session was released (SnakeBridge.Session.release/1)"
  """
  defexception [:reason]

  @typedoc """
  Why a call failed:

    * `SnakeBridge.PythonError` - the Python code raised an exception;
    * `SnakeBridge.ConversionError` - an argument has no Python value (Python was not called);
    * `:timeout` - the deadline passed (the Python code was stopped);
    * `:cancelled` - the job was cancelled before it answered;
    * `:stopped` - a generator a timeout or a cancel stopped mid-step (it cannot go on);
    * `:released` - the ref's or stream's session was released;
    * `:stop_iteration` - the iterator is exhausted (`stream_next`, `stream_next_batch`);
    * `:no_len` - the object has no `len()`;
    * `:unknown_stream` - no live stream of that session has the wire map's id;
    * `:not_a_stream_ref`, `{:unsupported_schema, version}` - not a stream wire map we read;
    * `{:bad_argument, message}` - the NIF refused an argument (JSON it cannot encode or read);
    * `:python_not_started`, `{:init_failed, message}` - the embedded Python is not running;
    * `{:worker_down, reason}` - the pool worker that ran the call (or holds the ref)
      died or is unreachable (see `SnakeBridge.Pool`); `{:worker_down, :starting}`: no
      worker of the pool came up while the call waited;
    * `:not_distributed` - a call to a `peers:` pool on a node that is not distributed;
    * `{:ref_on_other_node, ref_node, target_node}` - a ref of one node was passed to a
      call that runs on another;
    * `:not_embedded` - a call with no pool on a node with `embedded: false`;
    * `{:internal_error, message}` - a bug in SnakeBridge.
  """
  @type reason ::
          SnakeBridge.PythonError.t()
          | SnakeBridge.ConversionError.t()
          | :timeout
          | :cancelled
          | :stopped
          | :released
          | :stop_iteration
          | :no_len
          | :unknown_stream
          | :not_a_stream_ref
          | {:unsupported_schema, term()}
          | {:bad_argument, String.t()}
          | :python_not_started
          | {:init_failed, String.t()}
          | {:worker_down, term()}
          | {:ref_on_other_node, node(), node()}
          | :not_embedded
          | :not_distributed
          | {:internal_error, String.t()}

  @type t :: %__MODULE__{reason: reason()}

  @doc """
  The exception for `reason`: a `SnakeBridge.PythonError` or `SnakeBridge.ConversionError`
  as it is, an `ArgumentError` for `{:bad_argument, message}`, otherwise a
  `SnakeBridge.Error`.
  """
  @spec to_exception(reason()) :: Exception.t()
  def to_exception(%{__exception__: true} = exception), do: exception
  def to_exception({:bad_argument, message}), do: %ArgumentError{message: message}
  def to_exception(reason), do: %__MODULE__{reason: reason}

  @doc false
  # The value of `{:ok, value}`; raises the reason's exception otherwise (every `!`
  # function: SnakeBridge, SnakeBridge.Ref, generated wrappers).
  @spec ok!({:ok, term()} | {:error, reason()}) :: term()
  def ok!({:ok, value}), do: value
  def ok!({:error, reason}), do: raise(to_exception(reason))

  @impl true
  def message(%__MODULE__{reason: reason}), do: describe(reason)

  defp describe(:timeout), do: "the Python code ran past its timeout"
  defp describe(:cancelled), do: "the Python job was cancelled before it answered"

  defp describe(:stopped),
    do: "the generator was stopped by a timeout or a cancel and cannot go on"

  defp describe(:released),
    do: "the object's session was released (SnakeBridge.Session.release/1)"

  defp describe(:stop_iteration), do: "the Python iterator is exhausted"
  defp describe(:no_len), do: "the Python object has no len()"
  defp describe(:unknown_stream), do: "no live stream of this session has that id"
  defp describe(:not_a_stream_ref), do: "the map is not a stream_ref wire map"

  defp describe({:unsupported_schema, version}),
    do: "unsupported stream_ref wire schema: #{inspect(version)}"

  defp describe(:python_not_started),
    do:
      "the embedded Python is not running: the :snakebridge application is not started. " <>
        "Start it first with Application.ensure_all_started(:snakebridge), or start your " <>
        "application (which starts it), e.g. `mix run` without --no-start or, in a " <>
        "release's `bin/app eval`, Application.ensure_all_started(:my_app)"

  defp describe({:init_failed, message}), do: "the embedded Python failed to start: #{message}"
  defp describe({:internal_error, message}), do: "SnakeBridge internal error: #{message}"

  defp describe({:worker_down, :starting}),
    do: "no worker of the pool came up while the call waited (its workers are starting)"

  defp describe(:not_distributed),
    do:
      "the pool's workers need this node to be distributed (--sname/--name, " <>
        "RELEASE_DISTRIBUTION, or Node.start/2)"

  defp describe({:worker_down, reason}),
    do: "the pool worker is down (#{inspect(reason)}): its calls and refs are gone"

  defp describe({:ref_on_other_node, ref_node, target}),
    do: "a ref of node #{ref_node} was passed to a call that runs on #{target}"

  defp describe(:not_embedded),
    do: "this node runs no Python (config :snakebridge, embedded: false): give a pool_name"

  defp describe(reason), do: "SnakeBridge error: #{inspect(reason)}"
end
