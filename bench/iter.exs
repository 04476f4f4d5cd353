# 13. Elixir streams into Python (SnakeBridge.iter/2): batched ints into Python's sum(),
# beside CPython summing range(n) itself; and a File.stream! of 1 MiB chunks read by
# hashlib.file_digest through mode: :binary (and sha256 over readchunk()'s shared
# memoryviews), beside Python reading the same file itself.
# ITER_BENCH_MB sets the file's size (1024 by default; it is written to the temp dir).
Code.require_file("support.exs", __DIR__)

defmodule Bench.Iter do
  import Bench.Support

  @n 5_000_000
  @batch 10_000
  @mib 1024 * 1024

  # sha256 over the binaries themselves: memoryviews of the BEAM's memory, no copy.
  @shared """
  import hashlib
  h = hashlib.sha256()
  for c in iter(f.readchunk, b""):
      h.update(c)
  d = h.hexdigest()
  """

  def run do
    sum_rows() ++ file_rows()
  end

  defp sum_rows do
    n = @n
    expected = div(n * (n + 1), 2)

    times =
      interleave(
        [
          iter: fn ->
            {:ok, ^expected} =
              SnakeBridge.call("builtins", "sum", [SnakeBridge.iter(1..n, batch: @batch)])
          end,
          python: fn ->
            {:ok, ^expected} = SnakeBridge.eval("sum(range(1, n + 1))", %{"n" => n})
          end
        ],
        reps: 5
      )

    st = times.iter |> stats(n) |> then(&report("sum(iter(1..5M, batch: 10k))", &1, "us/item"))
    py = times.python |> stats(n) |> then(&report("(a) CPython sum(range(5M))", &1, "us/item"))

    [
      row("13 iter 1..5M batch 10k into sum()", rate(st.median), "M ints/s",
        higher_better: true,
        limit: {:>=, 5},
        baseline: {"(a) CPython sum(range)", rate(py.median)}
      )
    ]
  end

  defp file_rows do
    mb = String.to_integer(System.get_env("ITER_BENCH_MB", "1024"))
    path = Path.join(System.tmp_dir!(), "snakebridge_iter_bench_#{mb}.bin")
    ensure_file(path, mb)
    code = "__import__('hashlib').file_digest(f, 'sha256').hexdigest()"

    times =
      interleave(
        [
          iter: fn ->
            f = SnakeBridge.iter(File.stream!(path, [], @mib), mode: :binary, timeout: 60_000)
            {:ok, digest} = SnakeBridge.eval(code, %{"f" => f})
            Process.put(:iter_digest, digest)
          end,
          shared: fn ->
            f = SnakeBridge.iter(File.stream!(path, [], @mib), mode: :binary, timeout: 60_000)
            {:ok, %{"d" => digest}} = SnakeBridge.eval(@shared, %{"f" => f})
            Process.put(:shared_digest, digest)
          end,
          python: fn ->
            {:ok, digest} =
              SnakeBridge.eval(
                "__import__('hashlib').file_digest(open(p, 'rb'), 'sha256').hexdigest()",
                %{"p" => path}
              )

            Process.put(:python_digest, digest)
          end
        ],
        reps: 3
      )

    # Both read the same bytes.
    digest = Process.get(:python_digest)
    ^digest = Process.get(:iter_digest)
    ^digest = Process.get(:shared_digest)

    st = times.iter |> stats(mb) |> then(&report("sha256 of File.stream! #{mb} MB", &1, "us/MB"))

    sh =
      times.shared |> stats(mb) |> then(&report("the same, readchunk() (no copy)", &1, "us/MB"))

    py = times.python |> stats(mb) |> then(&report("(a) Python reads the file", &1, "us/MB"))

    [
      row("13 iter File.stream! #{mb} MB, 1 MiB chunks, sha256", st.median / 1000, "ms/MB",
        max: 1.25,
        baseline: {"(a) Python reads it", py.median / 1000}
      ),
      row("13 iter the same through readchunk() (shared)", sh.median / 1000, "ms/MB",
        baseline: {"(a) Python reads it", py.median / 1000}
      )
    ]
  end

  # Random bytes (nothing compresses or dedups them), written once per size.
  defp ensure_file(path, mb) do
    size = mb * @mib

    if match?({:ok, %{size: ^size}}, File.stat(path)) do
      :ok
    else
      File.open!(path, [:write, :raw, :binary], fn io ->
        for _ <- 1..mb, do: :ok = :file.write(io, :crypto.strong_rand_bytes(@mib))
      end)
    end
  end
end

Bench.Support.main(Bench.Iter)
