defmodule SnakeBridge.Pool.Boot do
  @moduledoc false
  # How a `peers:` worker is started and set up: the options of OTP's `:peer` and what
  # the worker is told before `:snakebridge` starts there. Everything comes from this
  # node, so that a worker starts wherever this node runs:
  #
  #   * its name: `<this node's name>_<pool>_<slot>_<gen>@<this node's host part>`, long
  #     or short as this node's (without a host, :peer lets `erl` pick one, which for a
  #     long name is rarely the host this node uses: `app@127.0.0.1` never connected);
  #   * its `erl`: the one of this node's installation (a release's own ERTS; `erl` on
  #     PATH may be another Erlang, or none);
  #   * its boot: `start_clean` beside this node's boot file, with this node's boot
  #     variables (a release's boot files name `$RELEASE_LIB`); plain OTP has it too;
  #   * its cookie: `-setcookie`, as a release's start script passes its own (without
  #     it the worker reads ~/.erlang.cookie, which a release's cookie is not);
  #   * the distribution protocol and its TLS options, when this node has them;
  #   * this node's code paths; then `config :snakebridge, peer_args:`.
  #
  # Then the worker gets this node's `:snakebridge` environment, with `python_path:`
  # set to this node's Python paths (the `priv/python` of every application loaded here
  # and `python_path:`: the worker loads only :snakebridge) and `spin_us:` the pool's.

  @doc false
  def peer_options(pool, slot, gen, start_timeout) do
    {base, host} = name_parts()

    %{
      name: String.to_atom("#{base}_#{pool}_#{slot}_#{gen}"),
      host: String.to_charlist(host),
      longnames: :net_kernel.longnames() == true,
      exec: exec(),
      args: args(),
      wait_boot: start_timeout
    }
  end

  defp name_parts do
    [base, host] = node() |> Atom.to_string() |> String.split("@", parts: 2)
    {base, host}
  end

  @doc false
  # The `erl` of this node's installation: `<root>/bin/erl` (OTP, Elixir's
  # `include_erts: false` releases) or `<root>/erts-<vsn>/bin/erl` (a release's ERTS);
  # else the one on PATH.
  def exec do
    root = to_string(:code.root_dir())
    erts = "erts-#{:erlang.system_info(:version)}"

    [Path.join([root, "bin", "erl"]), Path.join([root, erts, "bin", "erl"])]
    |> Enum.find(&File.regular?/1)
    |> Kernel.||(System.find_executable("erl"))
    |> to_charlist()
  end

  @doc false
  def args do
    # Hidden: workers do not join the cluster's full mesh (nor `global`'s partitions).
    [~c"-hidden", ~c"-setcookie", Atom.to_charlist(Node.get_cookie())] ++
      boot() ++
      dist() ++
      Enum.flat_map(:code.get_path(), &[~c"-pa", &1]) ++
      Enum.map(Application.get_env(:snakebridge, :peer_args, []), &to_charlist/1)
  end

  defp boot do
    vars = for [name, value] <- get_argument(:boot_var), do: [~c"-boot_var", name, value]

    boot =
      case get_argument(:boot) do
        [[file]] ->
          clean = Path.join(Path.dirname(to_string(file)), "start_clean")
          if File.regular?(clean <> ".boot"), do: [~c"-boot", to_charlist(clean)], else: []

        _ ->
          []
      end

    Enum.concat(vars) ++ boot
  end

  defp dist do
    Enum.flat_map([:proto_dist, :ssl_dist_optfile, :epmd_module], fn flag ->
      # (one list of values per occurrence of the flag)
      Enum.flat_map(get_argument(flag), &[[?- | Atom.to_charlist(flag)] | &1])
    end)
  end

  defp get_argument(flag) do
    case :init.get_argument(flag) do
      {:ok, values} -> values
      :error -> []
    end
  end

  @doc false
  # The worker's `:snakebridge` environment.
  def env(opts) do
    own = Application.get_all_env(:snakebridge)

    own
    |> Keyword.drop([:pools, :embedded])
    |> Keyword.put(:python_path, python_paths())
    |> Keyword.put(:spin_us, opts.spin_us)
    |> Keyword.put(:spin_give_way, true)
  end

  # This node's Python paths, but :snakebridge's own priv/python (the worker adds it).
  defp python_paths do
    own = python_dir(:snakebridge)
    SnakeBridge.Application.python_paths() |> Enum.reject(&(&1 == own))
  end

  defp python_dir(app) do
    case :code.priv_dir(app) do
      {:error, _} -> nil
      priv -> Path.join(to_string(priv), "python")
    end
  end

  @doc false
  # On the new worker: loads :snakebridge, sets its environment, starts it.
  def setup(node, env, timeout) do
    :ok = :erpc.call(node, :application, :load, [:snakebridge])

    for {key, value} <- env,
        do: :ok = :erpc.call(node, :application, :set_env, [:snakebridge, key, value])

    case :erpc.call(node, :application, :ensure_all_started, [:snakebridge], timeout) do
      {:ok, _} -> :ok
      {:error, reason} -> {:error, reason}
    end
  end
end
