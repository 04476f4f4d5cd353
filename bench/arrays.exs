# 13. numpy arrays as %SnakeBridge.Array{} binaries (lib/snake_bridge/array.ex): a 1M and a
# 12.5M float64 array (8 MB, 100 MB) to an Array (shared, not copied) beside `tolist()`
# (a list of boxed floats), and back (an Array argument becomes a numpy array over the
# binary) beside `numpy.asarray(list)`; in one run, each run in a fresh process (the
# spawn is timed on both sides). numpy comes from the
# tests' venv (test/support/science.ex) when the interpreter has none.
Code.require_file("support.exs", __DIR__)

defmodule Bench.Arrays do
  import Bench.Support

  alias SnakeBridge.{Array, Ref}

  def run do
    if numpy?() do
      Enum.flat_map([{1_000_000, "8 MB"}, {12_500_000, "100 MB"}], &rows/1)
    else
      IO.puts("  numpy is not importable (run the science tests once to make its venv): skipped")
      []
    end
  end

  defp rows({n, label}) do
    {:ok, ref} = SnakeBridge.call("numpy", "linspace", [0.0, 1.0, n])
    array = Array.from_ref!(ref)
    list = Ref.method!(ref, "tolist")
    reps = if n > 1_000_000, do: 5, else: 7
    # Each run in a fresh process: a list of 1M floats left by one run must not make the
    # next one pay for its garbage collection.
    fresh = fn f -> fn -> in_process(f) end end

    # Not interleaved: freeing the Python list tolist() made (or the numpy array asarray
    # made from a list) runs after its call answers, and would be timed in the next run.
    out = %{
      array: sample(fresh.(fn -> {:ok, %Array{}} = Array.from_ref(ref) end), reps: reps),
      tolist: sample(fresh.(fn -> {:ok, [_ | _]} = Ref.method(ref, "tolist") end), reps: reps)
    }

    to_numpy = fn value -> {:ok, %Ref{}} = SnakeBridge.call("numpy", "asarray", [value]) end

    back = %{
      array: sample(fresh.(fn -> to_numpy.(array) end), reps: reps),
      list: sample(fresh.(fn -> to_numpy.(list) end), reps: reps)
    }

    a = report("#{label} array to an Array", stats(out.array), "us")
    t = report("#{label} array .tolist()", stats(out.tolist), "us")
    b = report("#{label} Array to a numpy array", stats(back.array), "us")
    l = report("#{label} list to numpy.asarray(list)", stats(back.list), "us")

    [
      row("13 #{label} float64 array to an Array", a.median, "us",
        baseline: {"(c) tolist()", t.median},
        min_speedup: 100
      ),
      row("13 #{label} Array to a numpy array", b.median, "us",
        baseline: {"(c) asarray(list)", l.median},
        min_speedup: 100
      )
    ]
  end

  defp numpy? do
    case SnakeBridge.call("importlib.util", "find_spec", ["numpy"]) do
      {:ok, %Ref{}} ->
        true

      _ ->
        sites =
          Path.wildcard(
            Path.expand("../_build/science_venv/*/lib/python*/site-packages", __DIR__)
          )

        Enum.any?(sites, fn site ->
          {:ok, nil} = SnakeBridge.call("sys", "path.append", [site])
          match?({:ok, %Ref{}}, SnakeBridge.call("importlib.util", "find_spec", ["numpy"]))
        end)
    end
  end
end

Bench.Support.main(Bench.Arrays)
