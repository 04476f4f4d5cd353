defmodule SnakeBridge.StreamRefTest do
  # %StreamRef{}: its fields, Runtime.stream_next/2, the Enumerable implementation,
  # strict laziness, batching, async generators, and passing it back into Python.
  # Uses the Python-side counters of sb_testlib, so not async.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers
  alias SnakeBridge.{PythonError, Runtime, StreamRef}

  # Pools the refs below name: pools of this node itself (a pool_name must name a pool).
  setup_all do
    for pool <- [:p, :pool_a, :q], do: :ok = SnakeBridge.Pool.start(pool, nodes: [node()])
    on_exit(fn -> for pool <- [:p, :pool_a, :q], do: SnakeBridge.Pool.stop(pool) end)
  end

  setup do
    {:ok, true} = SnakeBridge.call("sb_testlib", "reset")
    {:ok, true} = SnakeBridge.call("sb_testlib", "reset_extra")
    :ok
  end

  defp py_get(key), do: SnakeBridge.call!("sb_testlib", "get", [key])
  defp next_calls, do: SnakeBridge.call!("sb_testlib", "get_extra", ["next_calls"])

  defp gen(n \\ nil, opts \\ []) do
    args = if n, do: [n], else: []
    {:ok, %StreamRef{} = ref} = SnakeBridge.call("sb_testlib", "counting_gen", args, opts)
    ref
  end

  describe "struct fields" do
    test "every field is filled" do
      {:ok, ref} = SnakeBridge.call("itertools", "count", [1])

      assert %StreamRef{
               ref_id: ref_id,
               session_id: "default",
               pool_name: nil,
               stream_type: "iterator",
               type_name: "count",
               python_module: "itertools",
               library: "itertools",
               exhausted: false
             } = ref

      assert is_binary(ref_id) and ref_id != ""
      assert is_reference(ref.resource)
    end

    test "two streams have different ref_ids" do
      a = gen(3)
      b = gen(3)
      assert a.ref_id != b.ref_id
    end

    test "a generator's python_module is the module of its function; library the called one" do
      ref = gen(3)
      assert ref.stream_type == "generator"
      assert ref.python_module == "sb_testlib"
      assert ref.library == "sb_testlib"
      # A builtin iterator type from a function of another module names that module.
      {:ok, zipped} = SnakeBridge.call("builtins", "zip", [[1], [2]])
      assert zipped.python_module == "builtins"
      {:ok, counter} = SnakeBridge.call("itertools", "count", [1])
      assert counter.python_module == "itertools"
    end

    test "library is the first segment of a dotted module name" do
      # concurrent.futures.as_completed is a generator function.
      {:ok, ref} = SnakeBridge.call("concurrent.futures", "as_completed", [[]])
      assert %StreamRef{stream_type: "generator", library: "concurrent"} = ref
      assert Enum.to_list(ref) == []
    end

    test "session_id and pool_name come from __runtime__" do
      ref = gen(3, __runtime__: [session_id: "s1", pool_name: :p])
      assert ref.session_id == "s1"
      assert ref.pool_name == :p
      assert Enum.to_list(ref) == [0, 1, 2]
    end

    test "pool_name is carried by every ref made from an object" do
      rt = [__runtime__: [session_id: "s3", pool_name: :pool_a]]

      {:ok, %SnakeBridge.Ref{pool_name: :pool_a} = obj} =
        SnakeBridge.call("builtins", "range", [4], rt)

      # a method's result, an attribute's value and an iterator over the object
      assert {:ok, %StreamRef{pool_name: :pool_a, session_id: "s3"} = it} =
               SnakeBridge.Ref.method(obj, "__iter__")

      assert Enum.to_list(it) == [0, 1, 2, 3]
      {:ok, %SnakeBridge.Ref{} = cls} = SnakeBridge.Ref.getattr(obj, "__class__")
      assert %SnakeBridge.Ref{pool_name: :pool_a, session_id: "s3"} = cls
      {:ok, %StreamRef{pool_name: :pool_a}} = SnakeBridge.Ref.method(it, "__iter__")
      # an explicit pool_name in a method call's __runtime__ wins
      assert {:ok, %StreamRef{pool_name: :other}} =
               SnakeBridge.Ref.method(obj, "__iter__", [], __runtime__: [pool_name: :other])
    end

    test "a stream nested in a container carries the call's runtime context" do
      {:ok, %{"data" => data}} =
        SnakeBridge.call("sb_testlib", "status_with_gen", [],
          __runtime__: [session_id: "s2", pool_name: :q]
        )

      assert %StreamRef{session_id: "s2", pool_name: :q, library: "sb_testlib"} = data
    end

    test "Inspect shows the kind of stream, its module and its id" do
      ref = gen(3)
      text = inspect(ref)
      assert text =~ "StreamRef"
      assert text =~ "generator"
      assert text =~ "sb_testlib"
      assert text =~ ref.ref_id
    end

    test "exhausted?/1 reports the end of the stream" do
      {:ok, it} = SnakeBridge.call("builtins", "iter", [[1]])
      refute StreamRef.exhausted?(it)
      assert Enum.to_list(it) == [1]
      assert StreamRef.exhausted?(it)
    end
  end

  describe "Runtime.stream_next/2" do
    test "gives the items, then :stop_iteration" do
      {:ok, it} = SnakeBridge.call("builtins", "iter", [[:a, "b", 3]])
      assert Runtime.stream_next(it) == {:ok, "a"}
      assert Runtime.stream_next(it) == {:ok, "b"}
      assert Runtime.stream_next(it) == {:ok, 3}
      assert Runtime.stream_next(it) == {:error, :stop_iteration}
    end

    test "after the end, every later call is :stop_iteration without running Python" do
      {:ok, it} = SnakeBridge.call("sb_testlib", "CountingIterator", [2])
      assert %StreamRef{stream_type: "iterator"} = it

      assert Runtime.stream_next(it) == {:ok, 0}
      assert Runtime.stream_next(it) == {:ok, 1}
      assert Runtime.stream_next(it) == {:error, :stop_iteration}
      # two items and the call that raised StopIteration
      assert next_calls() == 3

      for _ <- 1..5, do: assert(Runtime.stream_next(it) == {:error, :stop_iteration})
      assert Runtime.stream_next_batch(it, 10) == {:error, :stop_iteration}
      assert Enum.to_list(it) == []
      assert next_calls() == 3
    end

    test "a generator that is done does not run again" do
      tag = "done-#{System.unique_integer([:positive])}"
      {:ok, ref} = SnakeBridge.call("sb_testlib", "tagged_gen", [tag, 2])
      assert Runtime.stream_next(ref) == {:ok, 0}
      assert Runtime.stream_next(ref) == {:ok, 1}
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}
      assert SnakeBridge.call!("sb_testlib", "tag_get", [tag, "produced"]) == 2
      assert SnakeBridge.call!("sb_testlib", "tag_get", [tag, "finally"]) == 1
    end

    test "a Python exception is {:error, %PythonError{}}" do
      {:ok, ref} = SnakeBridge.call("sb_testlib", "gen_with_error", [2])
      assert Runtime.stream_next(ref) == {:ok, 0}
      assert Runtime.stream_next(ref) == {:ok, 1}

      assert {:error, %PythonError{type: "ValueError", message: "boom after 2"} = err} =
               Runtime.stream_next(ref)

      assert err.traceback =~ "gen_with_error"
      # A generator that raised is finished.
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}
    end

    test "an iterator that raises on one item can go on" do
      {:ok, it} = SnakeBridge.call("sb_testlib", "iter_with_error_at", [4, 1])
      assert Runtime.stream_next(it) == {:ok, 0}
      assert {:error, %PythonError{type: "ValueError"}} = Runtime.stream_next(it)
      assert Runtime.stream_next(it) == {:ok, 2}
      assert Runtime.stream_next(it) == {:ok, 3}
      assert Runtime.stream_next(it) == {:error, :stop_iteration}
    end
  end

  describe "Enumerable" do
    test "Enum.take halts the reduce; a second take continues" do
      ref = gen(10)
      assert Enum.take(ref, 3) == [0, 1, 2]
      assert Enum.take(ref, 3) == [3, 4, 5]
      assert Enum.to_list(ref) == [6, 7, 8, 9]
      assert Enum.to_list(ref) == []
    end

    test "Stream.zip of two StreamRefs suspends and resumes both" do
      {:ok, letters} = SnakeBridge.call("builtins", "iter", [["a", "b", "c", "d"]])
      numbers = gen()

      assert letters |> Stream.zip(numbers) |> Enum.take(3) ==
               [{"a", 0}, {"b", 1}, {"c", 2}]

      # Only the items zip used were pulled.
      assert py_get("produced") == 3
      assert Enum.to_list(letters) == ["d"]
      assert Enum.take(numbers, 2) == [3, 4]
    end

    test "Stream.zip ends with the shorter stream" do
      {:ok, a} = SnakeBridge.call("builtins", "iter", [[1, 2]])
      b = gen(5)
      assert Enum.to_list(Stream.zip(a, b)) == [{1, 0}, {2, 1}]
    end

    test "Stream.chunk_every groups lazily" do
      ref = gen()
      assert ref |> Stream.chunk_every(4) |> Enum.take(2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
      assert py_get("produced") == 8
    end

    test "count/1 is {:error, _} for a generator; Enum.count consumes it" do
      ref = gen(7)
      assert {:error, _} = Enumerable.count(ref)
      assert Enum.count(ref) == 7
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}
    end

    test "count/1 uses __len__ when the iterator has one, without consuming it" do
      {:ok, it} = SnakeBridge.call("sb_testlib", "LenIterator", [5])
      assert Enumerable.count(it) == {:ok, 5}
      assert Enum.count(it) == 5
      assert Runtime.stream_next(it) == {:ok, 1}
      assert Enum.count(it) == 4
      assert Enum.to_list(it) == [2, 3, 4, 5]
    end

    test "count/1 is {:error, _} for an iterator without __len__" do
      {:ok, it} = SnakeBridge.call("itertools", "islice", [[1, 2, 3], 2])
      assert {:error, _} = Enumerable.count(it)
      assert Enum.count(it) == 2
    end

    test "member?/2 and slice/1 are {:error, _}; Enum.member? works by reducing" do
      ref = gen(10)
      assert {:error, _} = Enumerable.member?(ref, 3)
      assert {:error, _} = Enumerable.slice(ref)

      assert Enum.member?(ref, 3)
      # it stopped right after the 3
      assert py_get("produced") == 4
      assert Enum.take(ref, 1) == [4]
    end

    test "Enum.at, Enum.find and Enum.reduce_while work through reduce" do
      assert Enum.at(gen(10), 4) == 4
      assert Enum.find(gen(10), &(&1 > 6)) == 7

      assert Enum.reduce_while(gen(10), 0, fn x, acc ->
               if x < 4, do: {:cont, acc + x}, else: {:halt, acc}
             end) == 6
    end

    test "a Python exception mid-iteration raises SnakeBridge.PythonError" do
      {:ok, ref} = SnakeBridge.call("sb_testlib", "gen_with_error", [3])

      error = assert_raise PythonError, fn -> Enum.to_list(ref) end
      assert error.type == "ValueError"
      assert Exception.message(error) =~ "boom after 3"
    end

    test "the items before the error reached the reducer" do
      {:ok, ref} = SnakeBridge.call("sb_testlib", "gen_with_error", [3])
      parent = self()

      assert_raise PythonError, fn ->
        Enum.each(ref, &send(parent, {:item, &1}))
      end

      assert_received {:item, 0}
      assert_received {:item, 1}
      assert_received {:item, 2}
    end
  end

  describe "strict laziness" do
    test "Enum.take(stream, 3) makes Python produce exactly 3 items" do
      ref = gen()
      assert Enum.take(ref, 3) == [0, 1, 2]
      assert py_get("produced") == 3
    end

    test "stream_next produces one item per call" do
      ref = gen()
      assert py_get("produced") == 0
      assert Runtime.stream_next(ref) == {:ok, 0}
      assert py_get("produced") == 1
      assert Runtime.stream_next(ref) == {:ok, 1}
      assert py_get("produced") == 2
    end

    test "stream_next_batch pulls only what is asked for" do
      ref = gen()
      assert Runtime.stream_next_batch(ref, 4) == {:ok, [0, 1, 2, 3]}
      assert py_get("produced") == 4
    end
  end

  describe "batching (__runtime__: [stream_batch: n])" do
    test "the struct records the batch; stream_next serves pulled-ahead items" do
      assert gen(10).batch == 1
      ref = gen(10, __runtime__: [stream_batch: 4])
      assert ref.batch == 4

      assert Runtime.stream_next(ref) == {:ok, 0}
      assert py_get("produced") == 4
      # 1..3 were pulled with 0; the rest comes in another batch of 4, and so on.
      assert for(_ <- 1..3, do: Runtime.stream_next(ref)) == [{:ok, 1}, {:ok, 2}, {:ok, 3}]
      assert py_get("produced") == 4
      assert Runtime.stream_next(ref) == {:ok, 4}
      assert py_get("produced") == 8
      assert Enum.to_list(ref) == Enum.to_list(5..9)
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}

      # Found again by its wire id, it keeps its batch.
      other = gen(10, __runtime__: [stream_batch: 3])
      {:ok, again} = StreamRef.from_wire_format(StreamRef.to_wire_format(other))
      assert again.batch == 3
      # (`other` is used here: collected before the lookup, its stream would be gone.)
      assert again.ref_id == other.ref_id
    end

    test "an error pulled ahead comes from stream_next after the items before it" do
      {:ok, ref} =
        SnakeBridge.call("sb_testlib", "gen_with_error", [2], __runtime__: [stream_batch: 5])

      assert Runtime.stream_next(ref) == {:ok, 0}
      assert Runtime.stream_next(ref) == {:ok, 1}
      assert {:error, %SnakeBridge.PythonError{type: "ValueError"}} = Runtime.stream_next(ref)
    end

    test "takes continue exactly although Python produced a whole batch" do
      ref = gen(1000, __runtime__: [stream_batch: 100])

      assert Enum.take(ref, 3) == [0, 1, 2]
      produced = py_get("produced")
      assert produced > 3 and produced <= 100

      assert Enum.take(ref, 3) == [3, 4, 5]
      assert Runtime.stream_next(ref) == {:ok, 6}
      assert Runtime.stream_next_batch(ref, 2) == {:ok, [7, 8]}
      assert Enum.to_list(ref) == Enum.to_list(9..999)
      assert py_get("produced") == 1000
    end

    test "Stream.zip of batched streams gives unused items back on halt" do
      a = gen(100, __runtime__: [stream_batch: 10])
      b = gen(100, __runtime__: [stream_batch: 7])

      assert a |> Stream.zip(b) |> Enum.take(3) == [{0, 0}, {1, 1}, {2, 2}]
      assert Enum.take(a, 2) == [3, 4]
      assert Enum.take(b, 2) == [3, 4]
      assert a |> Stream.chunk_every(5) |> Enum.take(1) == [[5, 6, 7, 8, 9]]
      assert Runtime.stream_next(a) == {:ok, 10}
    end

    test "stream_next_batch returns up to n items" do
      ref = gen(5)
      assert Runtime.stream_next_batch(ref, 3) == {:ok, [0, 1, 2]}
      assert Runtime.stream_next_batch(ref, 3) == {:ok, [3, 4]}
      assert Runtime.stream_next_batch(ref, 3) == {:error, :stop_iteration}
    end

    test "stream_next_batch on a batched stream gives buffered items first" do
      ref = gen(10, __runtime__: [stream_batch: 4])
      assert Runtime.stream_next(ref) == {:ok, 0}
      assert Runtime.stream_next_batch(ref, 2) == {:ok, [1, 2]}
      assert Runtime.stream_next_batch(ref, 10) |> elem(1) |> hd() == 3
    end

    test "an error raised mid-batch comes after the items before it" do
      {:ok, ref} =
        SnakeBridge.call("sb_testlib", "gen_with_error", [3], __runtime__: [stream_batch: 100])

      assert Runtime.stream_next_batch(ref, 100) == {:ok, [0, 1, 2]}
      assert {:error, %PythonError{type: "ValueError"}} = Runtime.stream_next_batch(ref, 100)
    end

    test "an error raised mid-batch, one stream_next at a time" do
      {:ok, ref} =
        SnakeBridge.call("sb_testlib", "gen_with_error", [3], __runtime__: [stream_batch: 100])

      assert Runtime.stream_next(ref) == {:ok, 0}
      assert Runtime.stream_next(ref) == {:ok, 1}
      assert Runtime.stream_next(ref) == {:ok, 2}
      assert {:error, %PythonError{type: "ValueError"}} = Runtime.stream_next(ref)
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}
    end

    test "Enum.to_list of a batched stream raises after the items before the error" do
      {:ok, ref} =
        SnakeBridge.call("sb_testlib", "gen_with_error", [3], __runtime__: [stream_batch: 100])

      parent = self()
      assert_raise PythonError, fn -> Enum.each(ref, &send(parent, {:item, &1})) end
      for i <- 0..2, do: assert_received({:item, ^i})
    end
  end

  describe "timeouts" do
    @tag :timing
    test "stream_next with :timeout stops a Python step that runs too long" do
      tag = "spin-#{System.unique_integer([:positive])}"
      {:ok, ref} = SnakeBridge.call("sb_testlib", "spin_gen", [tag])
      assert Runtime.stream_next(ref, timeout: 1_000) == {:ok, 0}

      {micros, result} = :timer.tc(fn -> Runtime.stream_next(ref, timeout: 100) end)
      assert result == {:error, :timeout}
      # The step would spin forever; the margin is for a loaded machine.
      assert micros < 1_500_000

      # The stop went through the generator's frame: it is finished (and says it was
      # stopped), its finally ran.
      assert Runtime.stream_next(ref) == {:error, :stopped}
      assert SnakeBridge.call!("sb_testlib", "tag_get", [tag, "finally"]) == 1
      # and the next call on this scheduler is not hit by a leftover exception
      assert SnakeBridge.call("operator", "add", [1, 2]) == {:ok, 3}
    end
  end

  describe "batching and the Python side" do
    test "a batched StreamRef passed back to Python still yields the buffered items" do
      # Items Python produced ahead for the batch sit in the native buffer; Python must
      # see them before the rest of the iterator.
      ref = gen(10, __runtime__: [stream_batch: 4])
      assert Enum.take(ref, 2) == [0, 1]
      assert SnakeBridge.call("builtins", "list", [ref]) == {:ok, Enum.to_list(2..9)}
    end

    test "Enum.count of a batched iterator with __len__ counts the buffered items" do
      {:ok, it} =
        SnakeBridge.call("sb_testlib", "LenIterator", [10], __runtime__: [stream_batch: 4])

      assert Runtime.stream_next(it) == {:ok, 1}
      remaining = Enum.count(it)
      assert remaining == length(Enum.to_list(it))
      assert remaining == 9
    end
  end

  describe "async generators stopped from outside" do
    defp agen_tag, do: "ag#{System.unique_integer([:positive])}"
    defp agen_get(tag, key), do: SnakeBridge.call!("sb_threads", "tag_get", [tag, key])

    test "a stream_next timeout leaves the generator closable, not 'already running'" do
      t = agen_tag()
      {:ok, agen} = SnakeBridge.call("sb_threads", "make_slow_agen", [t, 1.0])
      assert Runtime.stream_next(agen, timeout: 100) == {:error, :timeout}
      # The stopped step was cancelled: the next one is an answer, not a RuntimeError.
      assert Runtime.stream_next(agen) in [
               {:error, :stopped},
               {:error, :stop_iteration},
               {:ok, 0}
             ]

      assert eventually(fn -> agen_get(t, "finally") == 1 end)
    end

    test ":halt and a timeout of stream/5 close it: its finally runs" do
      t = agen_tag()

      assert SnakeBridge.stream("sb_threads", "make_slow_agen", [t, 0.01], [], fn _ -> :halt end) ==
               :ok

      assert agen_get(t, "finally") == 1

      t2 = agen_tag()

      assert SnakeBridge.stream(
               "sb_threads",
               "make_slow_agen",
               [t2, 1.0],
               [__runtime__: [stream_timeout: 100]],
               fn _ ->
                 :ok
               end
             ) == {:error, :timeout}

      assert eventually(fn -> agen_get(t2, "finally") == 1 end)
    end
  end

  describe "async generators" do
    test "are iterated for real" do
      {:ok, agen} = SnakeBridge.call("sb_testlib", "make_agen", [5])
      assert agen.stream_type == "async_generator"
      assert Enum.to_list(agen) == [0, 1, 2, 3, 4]
      assert Runtime.stream_next(agen) == {:error, :stop_iteration}
    end

    test "stream_next and take continue" do
      {:ok, agen} = SnakeBridge.call("sb_testlib", "make_agen", [5])
      assert Runtime.stream_next(agen) == {:ok, 0}
      assert Enum.take(agen, 2) == [1, 2]
      assert Enum.to_list(agen) == [3, 4]
    end
  end

  test "an exception inside Enum over a batched StreamRef keeps the items pulled ahead" do
    {:ok, it} =
      SnakeBridge.call("builtins", "iter", [Enum.to_list(0..19)], __runtime__: [stream_batch: 10])

    assert_raise RuntimeError, fn ->
      Enum.each(it, fn x -> if x == 3, do: raise("boom") end)
    end

    # 0..3 were handed to the function; 4..9 were pulled ahead and come next.
    assert Enum.to_list(it) == Enum.to_list(4..19)
  end

  test "a generator stopped inside by a stream_next timeout says so afterwards" do
    t = "stopped#{System.unique_integer([:positive])}"
    {:ok, gen} = SnakeBridge.call("sb_threads", "spin_gen", [t])
    assert Runtime.stream_next(gen, timeout: 100) == {:error, :timeout}
    # Not a silent end: the items it had not produced are gone because it was stopped.
    assert Runtime.stream_next(gen) == {:error, :stopped}
    assert StreamRef.exhausted?(gen)
    assert %SnakeBridge.Error{reason: :stopped} = catch_error(Enum.to_list(gen))

    # A plain iterator is not ended by a timeout between its items.
    {:ok, it} = SnakeBridge.call("builtins", "iter", [[1, 2, 3]])
    assert Runtime.stream_next(it, timeout: 1_000) == {:ok, 1}
    assert Enum.to_list(it) == [2, 3]
  end

  @tag :timing
  test "to_wire_format does not wait for a process inside next()" do
    {:ok, slow} = SnakeBridge.call("sb_testlib", "slow_gen", [3, 2.0])
    me = self()

    spawn(fn ->
      send(me, :stepping)
      send(me, {:stepped, Runtime.stream_next(slow)})
    end)

    assert_receive :stepping
    # The other process's next() runs (sleeping 2 s inside the generator, lock held).
    assert eventually(fn -> Runtime.thread_stats().calls.busy >= 1 end)
    {us, wire} = :timer.tc(fn -> StreamRef.to_wire_format(slow) end)
    assert wire["type_name"] == "generator"
    # Waiting for that step would take up to 2 s; the margin is for a loaded machine.
    assert us < 1_000_000
    # The step ends here, not in a later test that counts busy threads.
    assert_receive {:stepped, {:ok, 0}}, 10_000
  end

  defp drain_all(ref, acc) do
    case Runtime.stream_next(ref) do
      {:ok, x} -> drain_all(ref, [x | acc])
      {:error, :stop_iteration} -> acc
    end
  end

  describe "StreamRefs passed back into Python" do
    test "list(stream_ref) consumes the same iterator" do
      ref = gen(10)
      assert Enum.take(ref, 2) == [0, 1]
      assert SnakeBridge.call("builtins", "list", [ref]) == {:ok, Enum.to_list(2..9)}
      assert Runtime.stream_next(ref) == {:error, :stop_iteration}
    end

    test "next(stream_ref) in Python advances the Elixir side too" do
      {:ok, it} = SnakeBridge.call("builtins", "iter", [[1, 2, 3]])
      assert SnakeBridge.call("builtins", "next", [it]) == {:ok, 1}
      assert Enum.to_list(it) == [2, 3]
    end

    test "a StreamRef nested in an argument is the same object" do
      ref = gen(4)
      assert Runtime.stream_next(ref) == {:ok, 0}

      assert {:ok, [%StreamRef{stream_type: "generator"} = back]} =
               SnakeBridge.call("builtins", "list", [[ref]])

      assert back.ref_id == ref.ref_id
      assert {:ok, [1, 2, 3]} = SnakeBridge.call("builtins", "sorted", [ref])
    end

    test "Python's use of a shared StreamRef is under the same lock as Elixir's" do
      {:ok, ref} = SnakeBridge.call("sb_testlib", "counting_gen", [3000])
      me = self()

      drainers =
        for _ <- 1..10 do
          Task.async(fn ->
            send(me, :ready)
            drain_all(ref, [])
          end)
        end

      for _ <- 1..10, do: assert_receive(:ready)
      {:ok, from_python} = SnakeBridge.call("builtins", "list", [ref])
      from_elixir = drainers |> Task.await_many(30_000) |> List.flatten()

      all = from_python ++ from_elixir
      assert length(all) == 3000, "#{length(all)} items delivered for 3000"
      assert Enum.sort(all) == Enum.to_list(0..2999)
    end
  end
end
