# `mix demo` (mix.exs runs this script): calls Python and streams values from it,
# printing what arrives.

show = fn label, value ->
  IO.puts(String.pad_trailing(label, 36) <> " -> " <> inspect(value, charlists: :as_lists))
end

version = SnakeBridge.call!("platform", "python_version")
IO.puts("Python #{version}, embedded in the BEAM\n")
show.("math.sqrt(2.0)", SnakeBridge.call!("math", "sqrt", [2.0]))

{:ok, counter} = SnakeBridge.call("itertools", "count", [1])
show.("itertools.count(1)", counter)
show.("  Enum.take(counter, 5)", Enum.take(counter, 5))
show.("  Enum.take(counter, 5) again", Enum.take(counter, 5))

{:ok, squares} = SnakeBridge.call("builtins", "eval", ["(x * x for x in range(10))"])
show.("a generator, lazily", squares)
show.("  Stream.chunk_every(4)", squares |> Stream.chunk_every(4) |> Enum.to_list())

IO.puts("callback streaming of range(5):")

:ok =
  SnakeBridge.stream("builtins", "range", [5], [], fn chunk ->
    IO.puts("  chunk #{inspect(chunk)}")
    :ok
  end)

busy = "sum(i for i in range(10**12))"

show.(
  "a busy call with a 100 ms timeout",
  SnakeBridge.call("builtins", "eval", [busy], __runtime__: [timeout: 100])
)

IO.puts("Python's print goes to the caller:")
{:ok, nil} = SnakeBridge.call("builtins", "print", ["  hello from Python"])

show.(
  "an Elixir function as sorted's key",
  SnakeBridge.call("builtins", "sorted", [["b", "C", "a"]], key: &String.downcase/1)
)

show.("asyncio.sleep(0.1, 'awaited')", SnakeBridge.call("asyncio", "sleep", [0.1, "awaited"]))
