defmodule SnakeBridge.Sink do
  @moduledoc false
  # Takes what Python threads with no caller produce: output of threads Python code
  # started itself (written to this process's group leader: the node's) and, with
  # `config :snakebridge, python_logging: :logger`, Python's log records.

  use GenServer

  require Logger

  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @doc false
  # Applies `config :snakebridge, python_logging: ...` (:logger, or :none to leave
  # Python's logging alone).
  def configure_logging do
    case Application.get_env(:snakebridge, :python_logging, :none) do
      :logger ->
        set_logging(true, python_level(Logger.level()))

      none when none in [:none, nil, false] ->
        set_logging(false, 0)

      other ->
        raise ArgumentError, "python_logging must be :logger or :none, got: #{inspect(other)}"
    end
  end

  defp set_logging(on, level) do
    {:ok, _} = SnakeBridge.call("snakebridge", "_configure_logging", [on, level])
    :ok
  end

  require SnakeBridge.Messages, as: Messages

  @impl true
  def init(nil) do
    true = SnakeBridge.Native.set_sink(self())
    timeout = Application.get_env(:snakebridge, :callback_timeout, 5_000)

    unless is_integer(timeout) and timeout > 0,
      do:
        raise(
          ArgumentError,
          "callback_timeout must be a positive integer (ms), got: #{inspect(timeout)}"
        )

    true = SnakeBridge.Native.set_callback_timeout(timeout)
    configure_logging()
    {:ok, nil}
  end

  @impl true
  def handle_info(Messages.sink_io(device, text), state) do
    SnakeBridge.Executor.write(device, text)
    {:noreply, state}
  end

  # An Elixir function called from a Python thread with no caller: a process of its own.
  def handle_info(Messages.sink_callback(id, fun, args), state) do
    spawn(fn ->
      SnakeBridge.ElixirCalls.run_for_sink(fun, args, &SnakeBridge.Native.callback_reply(id, &1))
    end)

    {:noreply, state}
  end

  # A large map made off-scheduler: built from arrays on a dirty scheduler, in a process
  # of its own (a million keys take milliseconds; output and callbacks need not wait).
  def handle_info(Messages.sink_build_map(id), state) do
    spawn(fn -> SnakeBridge.Native.build_map(id) end)
    {:noreply, state}
  end

  def handle_info(Messages.sink_log(level, name, message), state) do
    Logger.log(elixir_level(level), message, python_logger: name)
    {:noreply, state}
  end

  # Python's numeric levels (DEBUG 10 ... CRITICAL 50), both ways.
  defp elixir_level(n) when n >= 50, do: :critical
  defp elixir_level(n) when n >= 40, do: :error
  defp elixir_level(n) when n >= 30, do: :warning
  defp elixir_level(n) when n >= 20, do: :info
  defp elixir_level(_), do: :debug

  defp python_level(level) when level in [:emergency, :alert, :critical], do: 50
  defp python_level(:error), do: 40
  defp python_level(level) when level in [:warning, :warn, :notice], do: 30
  defp python_level(:info), do: 20
  defp python_level(_), do: 10
end
