defmodule SnakeBridge.Sink do
  @moduledoc false
  # Takes what Python threads with no caller produce: output of threads Python code
  # started itself (written to this process's group leader: the node's) and, with
  # `python_logging: :logger`, log records.

  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @impl true
  def init(nil) do
    true = SnakeBridge.Native.set_sink(self())
    {:ok, nil}
  end

  @impl true
  def handle_info({:snakebridge_io, device, text}, state) do
    SnakeBridge.Executor.write(device, text)
    {:noreply, state}
  end
end
