defmodule SnakeBridge.PythonLoggingTest do
  # Not async: it changes the :python_logging setting and Logger's level.
  use ExUnit.Case, async: false

  import ExUnit.CaptureLog

  setup do
    level = Logger.level()
    Application.put_env(:snakebridge, :python_logging, :logger)
    Logger.configure(level: :debug)
    SnakeBridge.Sink.configure_logging()

    on_exit(fn ->
      Application.delete_env(:snakebridge, :python_logging)
      Logger.configure(level: level)
      SnakeBridge.Sink.configure_logging()
    end)
  end

  # The sink logs asynchronously: a sync call to it after the records were sent makes
  # sure it has handled them (its mailbox is in order).
  defp sync_sink, do: :sys.get_state(SnakeBridge.Sink)

  test "Python logging records reach Logger with mapped levels and the logger's name" do
    log =
      capture_log([metadata: [:python_logger]], fn ->
        {:ok, nil} = SnakeBridge.call("sb_output", "log_each_level", ["app.db"])
        sync_sink()
      end)

    for level <- ~w(debug info warning error critical) do
      assert log =~ "python_logger=app.db [#{level}] #{level} message"
    end
  end

  test "with python_logging: :none Python's logging is left alone" do
    Application.put_env(:snakebridge, :python_logging, :none)
    SnakeBridge.Sink.configure_logging()

    log =
      capture_log(fn ->
        # Python's own last-resort handler prints warnings and worse to stderr.
        stderr =
          ExUnit.CaptureIO.capture_io(:standard_error, fn ->
            {:ok, nil} = SnakeBridge.call("sb_output", "log_each_level", ["app.quiet"])
          end)

        assert stderr == "warning message\nerror message\ncritical message\n"
        sync_sink()
      end)

    refute log =~ "warning message"
  end

  test "a bad python_logging value is refused" do
    Application.put_env(:snakebridge, :python_logging, :stdout)

    assert_raise ArgumentError, ~r/python_logging must be :logger or :none/, fn ->
      SnakeBridge.Sink.configure_logging()
    end
  end
end
