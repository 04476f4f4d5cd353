defmodule SnakeBridge.Pool.Keeper do
  @moduledoc false
  # Keeps alive, on a worker node, the objects returned to another node: a resource
  # lives while a term of its own node holds it, and the copy on the caller's node does
  # not count. The objects of one answer are kept under a key; the caller's node gives
  # the refs of that answer a handle of its own (a NIF resource, `attach/2`) whose
  # collection there sends `{node, key}` to the Releaser of the caller's node, which tells
  # this keeper. Everything kept for a node is dropped when that node disconnects.

  use GenServer

  alias SnakeBridge.{Ref, StreamRef}

  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @doc false
  # On the worker: keeps the objects of `term` for `holder`'s node; the key, or nil
  # when there is nothing to keep.
  def keep(holder, term) when node(holder) != node() do
    case SnakeBridge.Pool.resources(term) do
      [] ->
        nil

      resources ->
        key = :erlang.unique_integer([:positive])
        GenServer.cast(__MODULE__, {:keep, key, node(holder), resources})
        {node(), key}
    end
  end

  def keep(_holder, _term), do: nil

  @doc false
  # On the caller's node: gives the refs of an answer the handle that releases them.
  def attach(term, nil), do: term

  def attach(term, kept) do
    releaser = Process.whereis(SnakeBridge.Pool.Releaser)
    put_handle(term, SnakeBridge.Native.remote_handle(releaser, kept))
  end

  defp put_handle(%Ref{} = ref, h), do: %{ref | handle: h}
  defp put_handle(%StreamRef{} = ref, h), do: %{ref | handle: h}
  defp put_handle([x | rest], h), do: [put_handle(x, h) | put_handle(rest, h)]

  defp put_handle(t, h) when is_tuple(t) and tuple_size(t) > 0,
    do: t |> Tuple.to_list() |> put_handle(h) |> List.to_tuple()

  defp put_handle(%_{} = s, _h), do: s

  defp put_handle(m, h) when is_map(m) and map_size(m) > 0,
    do: Map.new(m, fn {k, v} -> {put_handle(k, h), put_handle(v, h)} end)

  defp put_handle(x, _h), do: x

  @doc false
  # How many objects are kept (for tests and benchmarks).
  def count, do: GenServer.call(__MODULE__, :count)

  @impl true
  def init(nil) do
    :ok = :net_kernel.monitor_nodes(true, node_type: :all)
    {:ok, %{}}
  end

  @impl true
  def handle_cast({:keep, key, node, resources}, kept),
    do: {:noreply, Map.put(kept, key, {node, length(resources), resources})}

  def handle_cast({:release, key}, kept) do
    # A resource is released when the last term holding it is collected, and this
    # process may not collect for a long time: a collection follows releases (one per
    # 50 ms at most).
    unless Process.get(:gc_due), do: Process.send_after(self(), :gc, 50)
    Process.put(:gc_due, true)
    {:noreply, Map.delete(kept, key)}
  end

  @impl true
  def handle_call(:count, _from, kept) do
    {:reply, Enum.reduce(kept, 0, fn {_, {_, n, _}}, acc -> acc + n end), kept}
  end

  @impl true
  def handle_info({:nodedown, node, _}, kept) do
    {:noreply, Map.reject(kept, fn {_, {n, _, _}} -> n == node end), :hibernate}
  end

  def handle_info(:gc, kept) do
    Process.delete(:gc_due)
    :erlang.garbage_collect()
    {:noreply, kept}
  end

  def handle_info(_msg, kept), do: {:noreply, kept}
end
