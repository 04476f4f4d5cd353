defmodule SnakeBridge.SeedExamplesTest do
  # The streaming examples this library was specified with (Enumerable integration, lazy
  # iteration, lists in Python, large datasets, generators in containers), with the
  # results they print. Uses the Python-side counters of sb_testlib, so not async.
  use ExUnit.Case, async: false

  alias SnakeBridge.{Ref, StreamRef}

  setup do
    {:ok, true} = SnakeBridge.call("sb_testlib", "reset")
    :ok
  end

  describe "Enumerable Protocol Integration" do
    test "range(10) is an Enumerable Ref that restarts on every enumeration" do
      {:ok, stream} = SnakeBridge.call("builtins", "range", [10])

      # builtins.range is re-iterable, not an iterator: a Ref, not a StreamRef (see
      # guides/streaming.md, "Which results are streams").
      assert %Ref{} = stream

      assert Enum.take(stream, 5) == [0, 1, 2, 3, 4]
      assert Enum.sum(stream) == 45
      assert Enum.map(stream, &(&1 * 2)) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
      assert Enum.to_list(stream) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    end
  end

  describe "Lazy Iteration" do
    test "itertools.count: take 10, then take 5 continues where the first stopped" do
      {:ok, counter} = SnakeBridge.call("itertools", "count", [1])

      assert %StreamRef{stream_type: "iterator", python_module: "itertools"} = counter
      assert Enum.take(counter, 10) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
      assert Enum.take(counter, 5) == [11, 12, 13, 14, 15]
    end
  end

  describe "Converting to List in Python" do
    test "list(range_ref) gives the whole list in one call" do
      {:ok, range_ref} = SnakeBridge.call("builtins", "range", [100])
      {:ok, list} = SnakeBridge.call("builtins", "list", [range_ref])

      assert list == Enum.to_list(0..99)
    end
  end

  describe "Processing Large Datasets" do
    test "Stream.chunk_every(100) |> Stream.each |> Stream.run over a generator" do
      tag = "large-#{System.unique_integer([:positive])}"
      {:ok, data_stream} = SnakeBridge.call("sb_testlib", "tagged_gen", [tag, 1050])
      assert %StreamRef{stream_type: "generator"} = data_stream

      {:ok, agent} = Agent.start_link(fn -> [] end)

      result =
        data_stream
        |> Stream.chunk_every(100)
        |> Stream.each(fn batch -> Agent.update(agent, &[batch | &1]) end)
        |> Stream.run()

      assert result == :ok

      batches = agent |> Agent.get(& &1) |> Enum.reverse()
      Agent.stop(agent)

      assert length(batches) == 11
      assert Enum.map(batches, &length/1) == List.duplicate(100, 10) ++ [50]
      assert List.flatten(batches) == Enum.to_list(0..1049)

      # Every item was produced exactly once, and the generator ran to its end.
      assert SnakeBridge.call("sb_testlib", "tag_get", [tag, "produced"]) == {:ok, 1050}
      assert SnakeBridge.call("sb_testlib", "tag_get", [tag, "finally"]) == {:ok, 1}
    end
  end

  describe "Generators in Containers" do
    test "a dict holding a generator keeps its shape; the generator is a StreamRef" do
      {:ok, result} = SnakeBridge.call("sb_testlib", "status_with_gen")

      assert %{"status" => "ok", "data" => %StreamRef{} = data} = result
      assert map_size(result) == 2
      assert result["status"] == "ok"
      assert data.stream_type == "generator"
      assert Enum.to_list(result["data"]) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    end
  end
end
