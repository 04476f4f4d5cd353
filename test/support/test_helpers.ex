defmodule SnakeBridge.TestHelpers do
  @moduledoc false
  # Helpers shared by the ExUnit files (compiled for the test env only).

  import ExUnit.Callbacks, only: [on_exit: 1]

  @doc """
  Polls `fun` until it returns true, for at most `:timeout` ms (2000). With `gc: true`
  the calling process collects garbage between polls, so handles it dropped are freed.
  """
  def eventually(fun, opts \\ []) do
    deadline = System.monotonic_time(:millisecond) + Keyword.get(opts, :timeout, 2_000)
    poll(fun, deadline, Keyword.get(opts, :gc, false))
  end

  defp poll(fun, deadline, gc?) do
    cond do
      fun.() ->
        true

      System.monotonic_time(:millisecond) > deadline ->
        false

      true ->
        if gc?, do: :erlang.garbage_collect()
        Process.sleep(10)
        poll(fun, deadline, gc?)
    end
  end

  @doc """
  The items `SnakeBridge.stream/5` gives its callback, in order (the stream must end
  `:ok`: every callback has run, so every item is in the mailbox).
  """
  def stream_items!(module, function, args, kwargs \\ []) do
    me = self()
    tag = make_ref()
    :ok = SnakeBridge.stream(module, function, args, kwargs, &(send(me, {tag, &1}) && :ok))
    received(tag, [])
  end

  defp received(tag, acc) do
    receive do
      {^tag, item} -> received(tag, [item | acc])
    after
      0 -> Enum.reverse(acc)
    end
  end

  @doc "A fresh directory outside the repository, removed after the test."
  def tmp_dir!(prefix \\ "sb_test") do
    dir = Path.join(System.tmp_dir!(), "#{prefix}_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf(dir) end)
    dir
  end
end
