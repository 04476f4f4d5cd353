# 9. A call on a busy machine: SnakeBridge.call("math", "sqrt", [2.0]) while 4 OS
# processes spin on the cores, beside (b) the JSON-lines port answering the same sqrt,
# interleaved in the same run. The library's idle thread and the caller's NIF spin
# briefly for a quick hand-off; here the spinner competes for a core with the busy
# processes (and with the thread it waits for), so spinning must yield.
# Run it in 3 fresh VM starts: the issue's target holds in each.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Busy do
  import Bench.Support

  @busy 4
  @calls 2_000
  @port_calls 300

  def run do
    busy = for _ <- 1..@busy, do: spinner()

    try do
      # Every spinner running before the first timing.
      Process.sleep(200)
      port = port_open()
      sqrt = fn -> {:ok, _} = SnakeBridge.call("math", "sqrt", [2.0]) end
      by_port = fn -> %{"ok" => _} = port_request(port, ~s({"op":"sqrt","x":2.0})) end

      runs =
        interleave([call: times(sqrt, @calls), port: times(by_port, @port_calls)],
          reps: 5,
          warmup: 1
        )

      port_close(port)

      c =
        report(
          "call math.sqrt(2.0), #{@busy} busy processes",
          stats(runs.call, @calls),
          "us/call"
        )

      b =
        report(
          "(b) port worker, #{@busy} busy processes",
          stats(runs.port, @port_calls),
          "us/call"
        )

      [
        row("9 call, #{@busy} busy OS processes", c.median, "us/call",
          baseline: {"(b) port", b.median},
          min_speedup: 4
        )
      ]
    after
      Enum.each(busy, &stop_spinner/1)
    end
  end

  # An OS process that spins until killed (closing its port would not stop it).
  defp spinner do
    Port.open({:spawn_executable, "/bin/sh"}, [:binary, args: ["-c", "while :; do :; done"]])
  end

  defp stop_spinner(port) do
    with {:os_pid, pid} <- Port.info(port, :os_pid) do
      System.cmd("kill", ["-9", Integer.to_string(pid)])
    end

    Port.close(port)
  catch
    _, _ -> :ok
  end
end

Bench.Support.main(Bench.Busy)
