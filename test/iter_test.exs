defmodule SnakeBridge.IterTest do
  # SnakeBridge.iter/2: Elixir enumerables read by Python, against real Python.
  # Not async: one test starts a pool of peer workers.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers

  alias SnakeBridge.PythonError

  @lib "sb_iter"
  @mib 1024 * 1024

  # An enumerable that tells `to` about every item it makes, and about its end.
  def watched(enum, to, tag) do
    Stream.resource(
      fn -> send(to, {tag, :started, self()}) && Enum.to_list(enum) end,
      fn
        [] -> {:halt, []}
        [x | rest] -> send(to, {tag, :made, x}) && {[x], rest}
      end,
      fn _ -> send(to, {tag, :after, self()}) end
    )
  end

  defp made(tag), do: for({^tag, :made, x} <- mailbox(), do: x)

  defp mailbox do
    receive do
      msg -> [msg | mailbox()]
    after
      0 -> []
    end
  end

  # Open descriptors of this OS process on `path` (Linux).
  defp open_fds(path) do
    for fd <- File.ls!("/proc/self/fd"),
        {:ok, target} <- [File.read_link("/proc/self/fd/" <> fd)],
        target == path,
        do: fd
  end

  describe "an iterator" do
    test "as an argument, in containers, in eval globals" do
      assert {:ok, 5050} = SnakeBridge.call("builtins", "sum", [SnakeBridge.iter(1..100)])

      it = fn -> SnakeBridge.iter(Stream.map(1..3, &(&1 * 10))) end

      assert {:ok, [[10, 20, 30], [10, 20, 30], [10, 20, 30]]} =
               SnakeBridge.eval("[list(d['a']), list(t[0]), list(l[1])]", %{
                 "d" => %{"a" => it.()},
                 "t" => {it.()},
                 "l" => [0, it.()]
               })

      assert {:ok, 6} = SnakeBridge.eval("sum(x)", %{x: SnakeBridge.iter([1, 2, 3])})
    end

    test "to a generated function" do
      assert {:ok, 0.6} = SnakeBridge.TestLib.Math.fsum(SnakeBridge.iter([0.1, 0.2, 0.3]))
      chunks = ["{\"k\": [1, ", "2, 3]", "}"]

      assert {:ok, %{"k" => [1, 2, 3]}} =
               SnakeBridge.TestLib.Json.load(SnakeBridge.iter(chunks, mode: :binary))
    end

    test "Python objects: an iterator of every value kind, and the Python types" do
      values = [nil, true, 1, -2.5, "text", <<255, 0>>, [1, [2]], {1, 2}, %{"a" => 1}, :atom]
      assert {:ok, got} = SnakeBridge.call("builtins", "list", [SnakeBridge.iter(values)])

      assert got == List.replace_at(values, -1, "atom")

      assert {:ok, ["ElixirIterator", true]} =
               SnakeBridge.eval("[type(it).__name__, iter(it) is it]", %{
                 "it" => SnakeBridge.iter([])
               })
    end

    test "strict by default: Python taking 3 items makes the enumerable make exactly 3" do
      tag = make_ref()
      it = SnakeBridge.iter(watched(1..100, self(), tag))
      assert {:ok, [1, 2, 3]} = SnakeBridge.call(@lib, "take", [it, 3])
      assert made(tag) == [1, 2, 3]
    end

    test "batch: n hands over n items at a time; ahead: batches asked for early" do
      tag = make_ref()
      it = SnakeBridge.iter(watched(1..100, self(), tag), batch: 10, ahead: 0)
      assert {:ok, [1]} = SnakeBridge.call(@lib, "take", [it, 1])
      assert made(tag) == Enum.to_list(1..10)

      # By default two batches ahead: the first one, and those the producer made before
      # the end of the call halted it.
      it = SnakeBridge.iter(watched(1..100, self(), tag), batch: 10)
      assert {:ok, [1]} = SnakeBridge.call(@lib, "take", [it, 1])
      assert made(tag) in [Enum.to_list(1..10), Enum.to_list(1..20), Enum.to_list(1..30)]

      for ahead <- [0, 1, 5] do
        assert {:ok, 500_500} =
                 SnakeBridge.call("builtins", "sum", [
                   SnakeBridge.iter(1..1000, batch: 7, ahead: ahead)
                 ])
      end
    end

    test "nothing runs until Python asks" do
      tag = make_ref()

      assert {:ok, nil} =
               SnakeBridge.eval("None", %{"it" => SnakeBridge.iter(watched([1], self(), tag))})

      refute_received {^tag, :started, _}
    end

    test "the enumerable runs in a process of its own, linked to the caller" do
      me = self()

      probe =
        Stream.map([1], fn x ->
          send(me, {:producer, self(), Process.info(self(), :links)})
          x
        end)

      assert {:ok, [1]} = SnakeBridge.call("builtins", "list", [SnakeBridge.iter(probe)])
      assert_received {:producer, pid, {:links, links}}
      assert pid != self()
      assert self() in links
    end

    test "File.stream! and Stream.resource work as in Elixir" do
      dir = tmp_dir!()
      path = Path.join(dir, "lines.txt")
      lines = for i <- 1..500, do: "line #{i}\n"
      File.write!(path, lines)

      assert {:ok, ^lines} =
               SnakeBridge.call("builtins", "list", [SnakeBridge.iter(File.stream!(path))])

      counter =
        Stream.resource(
          fn -> 0 end,
          fn n -> if n < 5, do: {[n], n + 1}, else: {:halt, n} end,
          fn _ -> :ok end
        )

      assert {:ok, [0, 1, 2, 3, 4]} =
               SnakeBridge.call("builtins", "list", [SnakeBridge.iter(counter)])
    end

    test "Python waits with the GIL released: other Python calls run meanwhile" do
      me = self()

      slow =
        Stream.map([1, 2], fn
          1 -> 1
          2 -> send(me, {:waiting, self()}) && receive(do: (:go -> 2))
        end)

      task = Task.async(fn -> SnakeBridge.call("builtins", "sum", [SnakeBridge.iter(slow)]) end)
      assert_receive {:waiting, producer}, 5_000
      # Needs the GIL while the Python thread of the task waits for item 2.
      assert {:ok, 4.0} = SnakeBridge.call("math", "sqrt", [16])
      send(producer, :go)
      assert {:ok, 3} = Task.await(task)
    end

    test "an enumerable that calls Python itself (the waiting thread serves it)" do
      roots = Stream.map(1..3, fn x -> SnakeBridge.call!("math", "sqrt", [x * x]) end)

      assert {:ok, [1.0, 2.0, 3.0]} =
               SnakeBridge.call("builtins", "list", [SnakeBridge.iter(roots)])

      # In a thread-affine session: the enumerable's calls need the very thread that waits.
      {:ok, session} = SnakeBridge.Session.start(affinity: :thread)

      try do
        rt = [__runtime__: [session_id: session]]
        squares = Stream.map(1..3, fn x -> SnakeBridge.call!("operator", "mul", [x, x], rt) end)

        assert {:ok, [1, 4, 9]} =
                 SnakeBridge.call("builtins", "list", [SnakeBridge.iter(squares)], rt)
      after
        SnakeBridge.Session.release(session)
      end
    end

    test "async for" do
      assert {:ok, 55} = SnakeBridge.call(@lib, "async_sum", [SnakeBridge.iter(1..10)])

      assert {:ok, 5050} =
               SnakeBridge.call(@lib, "async_sum", [SnakeBridge.iter(1..100, batch: 8)])
    end

    test "async for in a coroutine awaited on the library's event loop" do
      assert {:ok, 500_500} =
               SnakeBridge.call(@lib, "async_total", [SnakeBridge.iter(1..1000, batch: 10)])
    end

    test "in a stream/5 producer" do
      me = self()
      it = SnakeBridge.iter(1..50, batch: 4)
      :ok = SnakeBridge.stream(@lib, "doubled", [it], [], fn x -> send(me, {:item, x}) && :ok end)
      assert for({:item, x} <- mailbox(), do: x) == Enum.map(1..50, &(&1 * 2))
    end

    test "from a thread Python started (through the sink)" do
      assert {:ok, [1, 2, 3]} = SnakeBridge.call(@lib, "from_thread", [SnakeBridge.iter(1..3)])
    end

    test "an item with no Python value is a TypeError in Python" do
      it = SnakeBridge.iter([1, make_ref()])

      assert {:error, %PythonError{type: "TypeError", message: message}} =
               SnakeBridge.call("builtins", "list", [it])

      assert message =~ "SnakeBridge.iter: an item has no Python value"
    end

    test "bad input is refused before Python runs" do
      assert_raise ArgumentError, ~r/not an Enumerable: 42/, fn -> SnakeBridge.iter(42) end
      assert_raise ArgumentError, ~r/an improper list/, fn -> SnakeBridge.iter([1 | 2]) end

      assert_raise ArgumentError, ~r/batch must be a positive integer/, fn ->
        SnakeBridge.iter([], batch: 0)
      end

      assert_raise ArgumentError, ~r/mode must be one of/, fn ->
        SnakeBridge.iter([], mode: :x)
      end

      assert_raise ArgumentError, ~r/unknown option :bach/, fn ->
        SnakeBridge.iter([], bach: 2)
      end

      assert_raise ArgumentError, ~r/timeout must be/, fn -> SnakeBridge.iter([], timeout: -1) end
      assert_raise ArgumentError, ~r/ahead must be/, fn -> SnakeBridge.iter([], ahead: :x) end
    end
  end

  describe "stops" do
    test "break in Python halts the enumerable before the call returns (after runs)" do
      tag = make_ref()
      it = SnakeBridge.iter(watched(1..100, self(), tag))
      assert {:ok, [1, 2]} = SnakeBridge.call(@lib, "until", [it, 3])
      assert_received {^tag, :after, producer}
      refute Process.alive?(producer)
      assert made(tag) == [1, 2, 3]
    end

    test "an exception in Python halts the enumerable" do
      tag = make_ref()
      it = SnakeBridge.iter(watched(1..100, self(), tag), batch: 5)

      assert {:error, %PythonError{type: "ValueError"}} =
               SnakeBridge.call(@lib, "fail_at", [it, 2])

      assert_received {^tag, :after, _}
    end

    test "close() halts it" do
      tag = make_ref()

      code = "x = next(it)\nit.close()\ny = list(it)"

      assert {:ok, %{"x" => 1, "y" => []}} =
               SnakeBridge.eval(code, %{"it" => SnakeBridge.iter(watched(1..100, self(), tag))})

      assert_received {^tag, :after, _}
      assert made(tag) == [1]
    end

    test "File.stream! is closed when Python stops early" do
      dir = tmp_dir!()
      path = Path.join(dir, "big.txt")
      File.write!(path, for(i <- 1..100_000, do: "#{i}\n"))
      assert open_fds(path) == []

      assert {:ok, ["1\n", "2\n"]} =
               SnakeBridge.call(@lib, "take", [SnakeBridge.iter(File.stream!(path)), 2])

      assert open_fds(path) == []
    end

    test "the end of the call halts an iterator Python kept; using it later raises" do
      tag = make_ref()

      assert {:ok, 1} =
               SnakeBridge.call(@lib, "keep", [SnakeBridge.iter(watched(1..9, self(), tag))])

      assert_received {^tag, :after, producer}
      refute Process.alive?(producer)

      assert {:error, %PythonError{type: "RuntimeError", message: message}} =
               SnakeBridge.call(@lib, "next_kept", [])

      assert message =~ "the call it was given to has ended"
    end

    test "an Elixir exception raises in Python with the Elixir message" do
      boom =
        Stream.map(1..5, fn
          3 -> raise ArgumentError, "no threes"
          x -> x
        end)

      assert {:ok, [[1, 2], "ElixirError", message]} =
               SnakeBridge.call(@lib, "catch_elixir_error", [SnakeBridge.iter(boom)])

      assert message =~ "(ArgumentError) no threes"

      assert {:error, %PythonError{type: "snakebridge.ElixirError", message: m2}} =
               SnakeBridge.call("builtins", "list", [SnakeBridge.iter(boom, batch: 2)])

      assert m2 =~ "no threes"
    end

    test "no batch within the iterator's timeout: TimeoutError, and the enumerable stops" do
      me = self()
      stuck = Stream.map([1], fn _ -> send(me, {:stuck, self()}) && Process.sleep(:infinity) end)

      assert {:ok, message} =
               SnakeBridge.call(@lib, "catch_timeout", [SnakeBridge.iter(stuck, timeout: 100)])

      assert message =~ "within 100 ms"
      assert_received {:stuck, producer}
      # Halted at the end of the call (it cannot see the halt: killed after the grace).
      refute Process.alive?(producer)
    end

    test "the call's timeout stops both sides" do
      me = self()
      stuck = Stream.map([1], fn _ -> send(me, {:stuck, self()}) && Process.sleep(:infinity) end)

      assert {:error, :timeout} =
               SnakeBridge.call(
                 @lib,
                 "sum_then_flag",
                 [SnakeBridge.iter(stuck, timeout: :infinity)],
                 __runtime__: [timeout: 300]
               )

      assert_received {:stuck, producer}
      refute Process.alive?(producer)
      # The Python side stopped too: its finally ran.
      assert {:ok, true} = SnakeBridge.call(@lib, "is_finished", [])
    end

    test "the caller's death stops both sides" do
      me = self()
      {:ok, false} = SnakeBridge.eval("__import__('sb_iter').finished.clear() or False")

      caller =
        spawn(fn ->
          stuck =
            Stream.map([1], fn _ -> send(me, {:stuck, self()}) && Process.sleep(:infinity) end)

          SnakeBridge.call(@lib, "sum_then_flag", [SnakeBridge.iter(stuck, timeout: :infinity)])
        end)

      assert_receive {:stuck, producer}, 5_000
      ref = Process.monitor(producer)
      Process.exit(caller, :kill)
      assert_receive {:DOWN, ^ref, :process, _, _}, 5_000

      assert eventually(fn -> SnakeBridge.call(@lib, "is_finished", []) == {:ok, true} end,
               timeout: 10_000
             )
    end
  end

  describe "mode: :binary and :text" do
    test "read, read(n), readline, iteration by line" do
      chunks = ["ab\ncd", "", "e\n", "fgh"]
      f = fn -> SnakeBridge.iter(chunks, mode: :binary) end
      all = IO.iodata_to_binary(chunks)

      assert {:ok, ^all} = SnakeBridge.eval("f.read()", %{"f" => f.()})
      assert {:ok, [[2, 2, 2, 2, 2], ^all]} = SnakeBridge.call(@lib, "read_sizes", [f.(), 2])
      assert {:ok, ["ab\n", "cde\n", "fgh"]} = SnakeBridge.eval("list(f)", %{"f" => f.()})

      assert {:ok, ["ab\n", "cd", "e\n"]} =
               SnakeBridge.eval("[f.readline(), f.readline(2), f.readline()]", %{"f" => f.()})

      assert {:ok, ["ab\n", "cde\n", "fgh"]} = SnakeBridge.eval("f.readlines()", %{"f" => f.()})

      code = "(lambda r: r + [f.close(), f.closed])([f.readable(), f.seekable(), f.mode])"
      assert {:ok, [true, false, "rb", nil, true]} = SnakeBridge.eval(code, %{"f" => f.()})
    end

    test "readline(limit) and read(n) at the end" do
      f = fn -> SnakeBridge.iter(["ab", "c"], mode: :binary) end

      assert {:ok, ["ab", "c", ""]} =
               SnakeBridge.eval("[f.readline(2), f.readline(5), f.readline()]", %{"f" => f.()})

      assert {:ok, ["abc", ""]} = SnakeBridge.eval("[f.read(10), f.read(10)]", %{"f" => f.()})

      # read1: what one chunk has left, at most n.
      assert {:ok, ["a", "b", "c", ""]} =
               SnakeBridge.eval("[f.read1(1), f.read1(), f.read1(), f.read1()]", %{"f" => f.()})
    end

    test "empty binaries are no end of file" do
      f = fn -> SnakeBridge.iter(["", "ab", "", "", "c", ""], mode: :binary) end
      code = "[f.read1(), f.read1(), f.read1()]"
      assert {:ok, ["ab", "c", ""]} = SnakeBridge.eval(code, %{"f" => f.()})
      assert {:ok, "abc"} = SnakeBridge.call(@lib, "readinto_all", [f.(), 10])
      code = "[bytes(c) for c in iter(f.readchunk, b'')]"
      assert {:ok, ["ab", "c"]} = SnakeBridge.eval(code, %{"f" => f.()})
    end

    test "bytes come back as bytes, never str" do
      assert {:ok, "bytes"} =
               SnakeBridge.eval("type(f.read()).__name__", %{
                 "f" => SnakeBridge.iter(["text"], mode: :binary)
               })
    end

    test "json.load, csv.reader (mode: :text), hashlib over an Elixir stream" do
      json = Stream.map(["[1, ", "{\"a\": \"é\"}", "]"], & &1)

      assert {:ok, [1, %{"a" => "é"}]} =
               SnakeBridge.call("json", "load", [SnakeBridge.iter(json, mode: :binary)])

      csv = ["name,n\r\n", "a,1\r\nb,", "2\r\n"]

      assert {:ok, [["name", "n"], ["a", "1"], ["b", "2"]]} =
               SnakeBridge.eval("list(__import__('csv').reader(f))", %{
                 "f" => SnakeBridge.iter(csv, mode: :text, newline: "")
               })

      assert {:ok, "TextIOWrapper"} =
               SnakeBridge.eval("type(f).__name__", %{"f" => SnakeBridge.iter(csv, mode: :text)})
    end

    test "hashlib.file_digest over File.stream! of 1 MiB chunks: the same digest, the same bytes" do
      dir = tmp_dir!()
      path = Path.join(dir, "data.bin")
      data = :crypto.strong_rand_bytes(3 * @mib + 12_345)
      File.write!(path, data)
      expected = Base.encode16(:crypto.hash(:sha256, data), case: :lower)

      assert {:ok, ^expected} =
               SnakeBridge.eval("__import__('hashlib').file_digest(f, 'sha256').hexdigest()", %{
                 "f" => SnakeBridge.iter(File.stream!(path, [], @mib), mode: :binary)
               })

      # Contents compared, above the 64 KiB threshold of shared binaries: read(n),
      # readinto and read() of large chunks.
      f = fn -> SnakeBridge.iter(File.stream!(path, [], @mib), mode: :binary) end
      assert {:ok, [_, ^data]} = SnakeBridge.call(@lib, "read_sizes", [f.(), 100_000])
      assert {:ok, ^data} = SnakeBridge.call(@lib, "readinto_all", [f.(), 300_000])
      assert {:ok, ^data} = SnakeBridge.eval("f.read()", %{"f" => f.()})

      # readchunk(): each binary shared with Python (a read-only memoryview over the BEAM
      # binary, no copy); hashlib reads it in place.
      code = """
      import hashlib
      h, kinds, parts = hashlib.sha256(), set(), []
      for c in iter(f.readchunk, b""):
          kinds.add((type(c).__name__, type(c.obj).__name__, c.readonly, len(c)))
          h.update(c)
          parts.append(bytes(c))
      d, kinds, data = h.hexdigest(), sorted(kinds), b"".join(parts)
      """

      assert {:ok, %{"d" => ^expected, "data" => ^data, "kinds" => kinds}} =
               SnakeBridge.eval(code, %{"f" => f.()})

      assert kinds == [
               {"memoryview", "ElixirBytes", true, 12_345},
               {"memoryview", "ElixirBytes", true, @mib}
             ]

      assert open_fds(path) == []
    end

    test "a non-binary item raises in Python" do
      assert {:error, %PythonError{type: "snakebridge.ElixirError", message: message}} =
               SnakeBridge.eval("f.read()", %{"f" => SnakeBridge.iter(["a", 1], mode: :binary)})

      assert message =~ "the enumerable gave 1, not a binary"
    end

    @pandas? match?(
               {:ok, true},
               SnakeBridge.eval(
                 "__import__('importlib.util').util.find_spec('pandas') is not None"
               )
             )
    if not @pandas?, do: @tag(skip: "pandas is not installed in this Python")

    test "pandas.read_csv over an Elixir stream" do
      csv = Stream.map(["a,b\n", "1,2\n", "3,4\n"], & &1)

      assert {:ok, [["a", "b"], [[1, 2], [3, 4]]]} =
               SnakeBridge.eval(
                 "(lambda d: [list(d.columns), d.values.tolist()])(__import__('pandas').read_csv(f))",
                 %{"f" => SnakeBridge.iter(csv, mode: :binary)}
               )

      # 20k rows in 4001-byte pieces (rows cut anywhere), a File.stream! of the same file.
      text = IO.iodata_to_binary(["n,sq\n" | for(i <- 1..20_000, do: "#{i},#{i * i}\n")])
      pieces = for <<piece::binary-size(4001) <- text>>, do: piece
      rest = binary_part(text, 4001 * length(pieces), byte_size(text) - 4001 * length(pieces))
      path = Path.join(tmp_dir!(), "rows.csv")
      File.write!(path, text)
      code = "(lambda d: [len(d), int(d['sq'].sum())])(__import__('pandas').read_csv(f))"
      expected = [20_000, Enum.sum(for i <- 1..20_000, do: i * i)]

      for f <- [
            SnakeBridge.iter(pieces ++ [rest], mode: :binary, batch: 3),
            SnakeBridge.iter(File.stream!(path, [], 65_536), mode: :binary)
          ] do
        assert {:ok, ^expected} = SnakeBridge.eval(code, %{"f" => f})
      end
    end
  end
end

defmodule SnakeBridge.IterPoolTest do
  # SnakeBridge.iter/2 given to Python on a pool worker: the enumerable runs here.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers

  alias SnakeBridge.Pool

  @moduletag :pools
  @lib "sb_iter"
  @pool :iter_pool
  @mib 1024 * 1024

  defp watched(enum, to, tag), do: SnakeBridge.IterTest.watched(enum, to, tag)

  setup_all do
    SnakeBridge.TestDistribution.start!()
    :ok = Pool.start(@pool, peers: 1)
    on_exit(fn -> Pool.stop(@pool) end)
    :ok = Pool.ready(@pool, 120_000)
    [worker] = Pool.nodes(@pool)
    dir = Path.expand("support/python", __DIR__)
    {:ok, _} = :erpc.call(worker, SnakeBridge, :call, ["sys", "path.insert", [0, dir]])
    %{rt: [__runtime__: [pool_name: @pool]], worker: worker}
  end

  test "the enumerable runs on the caller's node; Python on the worker reads it", %{
    rt: rt,
    worker: worker
  } do
    me = self()

    probe =
      Stream.map(1..100, fn x ->
        x == 1 && send(me, {:producer_node, node()})
        x
      end)

    assert {:ok, 5050} =
             SnakeBridge.call("builtins", "sum", [SnakeBridge.iter(probe, batch: 10)], rt)

    assert_received {:producer_node, node} when node == node()
    assert {:ok, node_name} = SnakeBridge.eval("__import__('os').getpid()", %{}, rt)
    assert is_integer(node_name)
    assert worker != node()
  end

  test "files, early stops and errors", %{rt: rt} do
    dir = tmp_dir!()
    path = Path.join(dir, "data.bin")
    data = :crypto.strong_rand_bytes(@mib + 7)
    File.write!(path, data)
    expected = Base.encode16(:crypto.hash(:sha256, data), case: :lower)

    assert {:ok, ^expected} =
             SnakeBridge.eval(
               "__import__('hashlib').file_digest(f, 'sha256').hexdigest()",
               %{"f" => SnakeBridge.iter(File.stream!(path, [], 65_536), mode: :binary)},
               rt
             )

    tag = make_ref()

    assert {:ok, [1, 2]} =
             SnakeBridge.call(
               @lib,
               "until",
               [SnakeBridge.iter(watched(1..100, self(), tag)), 3],
               rt
             )

    assert_received {^tag, :after, _}

    boom =
      Stream.map(1..5, fn
        3 -> raise "boom"
        x -> x
      end)

    assert {:ok, [[1, 2], "ElixirError", message]} =
             SnakeBridge.call(@lib, "catch_elixir_error", [SnakeBridge.iter(boom)], rt)

    assert message =~ "boom"
  end
end
