# Fail fast when the NIF did not load or Python did not start.
unless Code.ensure_loaded?(SnakeBridge.Native) do
  raise "SnakeBridge.Native did not load: the NIF in the build's priv/native is missing or broken"
end

case SnakeBridge.call("builtins", "int", ["1"]) do
  {:ok, 1} -> :ok
  other -> raise "embedded Python does not answer: #{inspect(other)}"
end

# Python test helpers live in test/support/python (put first on sys.path).
{:ok, _} = SnakeBridge.call("sys", "path.insert", [0, Path.expand("support/python", __DIR__)])

ExUnit.start(exclude: [:slow_integration])
