# 12. Large str/bytes results: 64 KiB and more share Python's memory (a resource
# binary holding the object) instead of being copied. A call returning a 1 MiB and a
# 100 MB `bytes` Python holds, beside (c) copying a binary of that size in Elixir; stream/5
# of 1 MiB items beside the same bytes in 32 KiB items (copied: under the threshold).
Code.require_file("support.exs", __DIR__)

defmodule Bench.LargeValues do
  import Bench.Support

  @mib 1024 * 1024

  def run do
    call_rows =
      for {size, label} <- [{@mib, "1 MiB"}, {100_000_000, "100 MB"}] do
        nil = py!("keep_blobs", [1, size])

        st =
          sample(fn -> <<_, _::binary>> = py!("kept_blob") end, reps: 9)
          |> stats()
          |> then(&report("call returning a held #{label} bytes", &1, "us"))

        blob = :binary.copy(<<0>>, size)

        c =
          sample(fn -> :binary.copy(blob) end, reps: 9)
          |> stats()
          |> then(&report("(c) :binary.copy of #{label}", &1, "us"))

        row("12 call returning #{label} bytes", st.median, "us",
          baseline: {"(c) copying it", c.median},
          speedup: true
        )
      end

    total = 256 * @mib
    noop = fn _ -> :ok end

    stream = fn size ->
      nil = py!("keep_blobs", [div(total, size), size])

      sample(fn -> :ok = SnakeBridge.stream("sb_bench", "kept_blobs", [], [], noop) end, reps: 5)
      |> stats()
      |> then(&report("stream/5 of 256 MiB in #{div(size, 1024)} KiB items", &1, "us"))
    end

    big = stream.(@mib)
    small = stream.(32 * 1024)
    nil = py!("keep_blobs", [0, 0])

    gbs = fn st -> total / st.median / 1000 end

    call_rows ++
      [
        row("12 stream/5 of 1 MiB items", gbs.(big), "GB/s",
          higher_better: true,
          baseline: {"32 KiB items (copied)", gbs.(small)},
          speedup: true
        )
      ]
  end
end

Bench.Support.main(Bench.LargeValues)
