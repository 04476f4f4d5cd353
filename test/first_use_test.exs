defmodule SnakeBridge.FirstUseTest do
  # What a new user meets before anything else: what inspect shows and how long it may
  # take, where a finalizer's failure is reported, what a StreamRef says of its origin,
  # and a call made before the application started (a VM of its own).
  use ExUnit.Case, async: false

  # The warnings these tests cause are checked through a handler of their own.
  @moduletag :capture_log

  describe "inspect" do
    test "a Ref whose __repr__ is slow shows its type and id within 100 ms (plus margin)" do
      {:ok, %{"slow" => ref}} =
        SnakeBridge.eval("""
        import time
        class Slow:
            def __repr__(self):
                for _ in range(500):
                    time.sleep(0.01)
                return "never seen"
        slow = Slow()
        """)

      {us, text} = :timer.tc(fn -> inspect(ref) end)
      assert text == "#SnakeBridge.Ref<#{ref.python_module}.Slow #{ref.id}>"
      # The wait is 100 ms; the rest is a loaded machine's scheduling.
      assert us < 1_000_000, "inspect took #{div(us, 1000)} ms"

      # Twenty such Refs in one Logger line: about 2 s, not 20 s (nor 100 s).
      refs = List.duplicate(ref, 20)
      {us, _} = :timer.tc(fn -> inspect(refs) end)
      assert us < 10_000_000, "20 slow Refs took #{div(us, 1000)} ms"

      # The thread that ran the slow __repr__ was stopped, and a fast one still answers.
      assert inspect(SnakeBridge.call!("builtins", "range", [3])) ==
               "#SnakeBridge.Ref<range(0, 3)>"
    end
  end

  describe "finalizers" do
    setup do
      # Log events reach this test as messages (an Erlang :logger handler).
      id = :"first_use_#{System.unique_integer([:positive])}"
      :ok = :logger.add_handler(id, __MODULE__, %{config: %{pid: self()}})
      on_exit(fn -> :logger.remove_handler(id) end)
    end

    test "a sqlite3 cursor collected outside a session: one Logger warning naming its type" do
      # Made on a library thread, closed (when collected) on a cleanup thread: sqlite3
      # refuses objects of another thread.
      task =
        Task.async(fn ->
          {:ok, %SnakeBridge.StreamRef{}} =
            SnakeBridge.eval("__import__('sqlite3').connect(':memory:').execute('select 1')")

          :ok
        end)

      :ok = Task.await(task)
      assert_receive {:logged, :warning, text}, 10_000
      assert text =~ "Exception ignored closing a sqlite3.Cursor object: sqlite3.ProgrammingError"
      assert text =~ "SnakeBridge.Session.start(affinity: :thread)"
      refute text =~ "snakebridge_shim"
      refute text =~ "Traceback"
      refute_receive {:logged, _, _}, 200
    end

    test "an exception in __del__ is a Logger warning, not a traceback on stderr" do
      stderr =
        ExUnit.CaptureIO.capture_io(:stderr, fn ->
          {:ok, _} =
            SnakeBridge.eval("""
            class Grumpy:
                def __del__(self):
                    raise KeyError("no goodbye")
            g = Grumpy()
            del g
            """)

          assert_receive {:logged, :warning, text}, 10_000
          assert text =~ "Exception ignored in Grumpy.__del__: KeyError: 'no goodbye'"
          # The user's frame is kept (the snippet's line), the library's are not.
          assert text =~ "raise KeyError"
        end)

      refute stderr =~ "Traceback"
    end
  end

  @doc false
  # :logger handler callback (see the setup above).
  def log(%{level: level, msg: msg, meta: meta}, %{config: %{pid: pid}}) do
    if Map.get(meta, :python_logger) == "snakebridge" do
      text =
        case msg do
          {:string, chardata} -> IO.chardata_to_string(chardata)
          {:report, report} -> inspect(report)
          {format, args} -> :io_lib.format(format, args) |> IO.chardata_to_string()
        end

      send(pid, {:logged, level, text})
    end
  end

  describe "python_module" do
    test "names the module of the function that made the stream" do
      {:ok, gen} = SnakeBridge.call("sb_testlib", "counting_gen", [2])
      assert gen.python_module == "sb_testlib"

      # A builtin iterator type (callable_iterator) made by a function of another module.
      {:ok, matches} = SnakeBridge.call("re", "finditer", ["a", "aXa"])
      assert {matches.stream_type, matches.python_module} == {"iterator", "re"}
      assert inspect(matches) =~ "#SnakeBridge.StreamRef<iterator re "

      # A generator names the module its function is defined in.
      {:ok, walk} = SnakeBridge.call("os", "walk", ["."])
      assert walk.python_module == "os"

      # An iterator type of its own module keeps that module.
      {:ok, counter} = SnakeBridge.call("itertools", "count", [1])
      assert counter.python_module == "itertools"
    end
  end

  describe "a stop during an import" do
    @tag :tmp_dir
    test "lands after the import: the package is whole for the next call", %{tmp_dir: dir} do
      # Like asyncio: the package binds a submodule by `from .part import *`, then works
      # (Python code, 1 s) while a 100 ms timeout passes.
      pkg = Path.join(dir, "sb_slow_import")
      File.mkdir_p!(pkg)
      File.write!(Path.join(pkg, "part.py"), "VALUE = 42\n")

      File.write!(Path.join(pkg, "__init__.py"), """
      from .part import *
      import time
      _t = time.monotonic()
      while time.monotonic() - _t < 1.0:
          pass
      def value():
          return part.VALUE
      """)

      {:ok, _} = SnakeBridge.call("sys", "path.insert", [0, dir])
      opts = [__runtime__: [timeout: 100]]
      assert SnakeBridge.call("sb_slow_import", "value", [], opts) == {:error, :timeout}
      # Interrupted inside the import, the package would be gone and its submodule
      # left: every later import would fail with "name 'part' is not defined".
      assert SnakeBridge.call("sb_slow_import", "value", []) == {:ok, 42}
    end
  end

  describe "a call before the application started" do
    test "raises at once with the sentence that says to start it" do
      ebin = SnakeBridge |> :code.which() |> to_string() |> Path.dirname()

      script = """
      {us, result} = :timer.tc(fn ->
        try do
          SnakeBridge.call("math", "sqrt", [4.0])
        rescue
          e -> {:raised, Exception.message(e)}
        end
      end)
      {:raised, message} = result
      IO.puts("RESULT \#{div(us, 1000)} ms: \#{message}")
      {:ok, _} = Application.ensure_all_started(:snakebridge)
      IO.inspect(SnakeBridge.call("math", "sqrt", [4.0]), label: "STARTED")
      """

      {out, 0} =
        System.cmd("elixir", ["-pa", ebin, "-e", script],
          env: [{"SNAKEBRIDGE_PYTHON", nil}, {"PYTHONPATH", nil}],
          stderr_to_stdout: true
        )

      assert [_, ms] = Regex.run(~r/RESULT (\d+) ms: /, out), out
      assert String.to_integer(ms) < 5_000
      assert out =~ "Application.ensure_all_started(:snakebridge)", out
      assert out =~ "STARTED: {:ok, 2.0}", out
    end
  end
end
