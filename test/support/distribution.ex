defmodule SnakeBridge.TestDistribution do
  @moduledoc false
  # Pool tests need this node alive (OTP's :peer connects workers over distribution).

  def start! do
    unless Node.alive?() do
      epmd = System.find_executable("epmd") || raise "epmd is missing (it comes with Erlang)"
      {_, 0} = System.cmd(epmd, ["-daemon"])
      name = :"snakebridge_test_#{System.unique_integer([:positive])}"
      {:ok, _} = Node.start(name, :shortnames)
    end

    :ok
  end
end
