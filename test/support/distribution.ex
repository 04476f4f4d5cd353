defmodule SnakeBridge.TestDistribution do
  @moduledoc false
  # Pool tests need this node alive (OTP's :peer connects workers over distribution).

  def start! do
    unless Node.alive?() do
      epmd!()
      name = :"snakebridge_test_#{System.unique_integer([:positive])}"
      {:ok, _} = Node.start(name, :shortnames)
    end

    :ok
  end

  defp epmd! do
    epmd = System.find_executable("epmd") || raise "epmd is missing (it comes with Erlang)"
    {_, 0} = System.cmd(epmd, ["-daemon"])
  end

  @doc """
  A BEAM of its own with this node's code paths, controlled over its stdin/stdout (the
  `:standard_io` connection of :peer), so that its distribution is its own: none, or
  `name:`/`host:`/`longnames:` as given, with `cookie:`. Run code there with
  `:peer.call/5`; it stops with the test.
  """
  def start_vm!(opts \\ []) do
    epmd!()
    cookie = Keyword.get(opts, :cookie, "sb_vm_#{System.unique_integer([:positive])}")
    paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])

    peer_opts =
      %{connection: :standard_io, args: [~c"-setcookie", to_charlist(cookie) | paths]}
      |> Map.merge(Map.new(Keyword.take(opts, [:name, :host, :longnames])))

    {:ok, peer, node} = :peer.start(peer_opts)
    ExUnit.Callbacks.on_exit(fn -> if Process.alive?(peer), do: :peer.stop(peer) end)
    {peer, node}
  end

  # ---------------------------------------------------------------- run in such a VM

  @doc false
  # Starts :snakebridge with `env` and makes `calls` calls to `pool` from as many
  # processes, started the moment the application is up; their results.
  def start_and_call(env, pool, calls) do
    for {key, value} <- env, do: Application.put_env(:snakebridge, key, value)
    {:ok, _} = Application.ensure_all_started(:snakebridge)

    1..calls
    |> Enum.map(fn _ ->
      Task.async(fn ->
        SnakeBridge.call("sb_pool_where", "where", [], __runtime__: [pool_name: pool])
      end)
    end)
    |> Task.await_many(:infinity)
  end

  @doc false
  # Sends what :logger logs from now on to `file` (read with `logged/0`).
  def log_to(file) do
    :ok =
      :logger.add_handler(:sb_test_file, :logger_std_h, %{
        config: %{file: to_charlist(file)},
        formatter: {:logger_formatter, %{single_line: true}}
      })
  end

  @doc false
  def logged(file) do
    :ok = :logger_std_h.filesync(:sb_test_file)
    File.read!(file)
  end

  @doc false
  # `fun`'s result and the ms it took.
  def timed(m, f, a) do
    t0 = System.monotonic_time(:millisecond)
    result = apply(m, f, a)
    {result, System.monotonic_time(:millisecond) - t0}
  end
end
