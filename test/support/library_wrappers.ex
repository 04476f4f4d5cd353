# Generated wrappers compiled with the test support code, before :snakebridge's .app
# exists on a fresh build (the macro then starts Python directly): their docs and specs
# are in .beam files, for Code.fetch_docs/1 and Code.Typespec.fetch_specs/1.

defmodule SnakeBridge.TestLib.PythonPath do
  @moduledoc false
  # Runs at compile time, before the wrappers below (they `require` it): the test Python
  # modules on sys.path of the compiling VM.
  SnakeBridge.Library.ensure_python!()
  {:ok, _} = SnakeBridge.call("sys", "path.insert", [0, Path.expand("python", __DIR__)])
  def ready?, do: true
end

defmodule SnakeBridge.TestLib.Json do
  @moduledoc false
  use SnakeBridge.Library, python: "json"
end

defmodule SnakeBridge.TestLib.Math do
  @moduledoc false
  use SnakeBridge.Library, python: "math"
end

defmodule SnakeBridge.TestLib.Lib do
  require SnakeBridge.TestLib.PythonPath

  use SnakeBridge.Library,
    python: "sb_library",
    streaming: ["generate", "slow_generate"],
    except: [:fail]
end

defmodule SnakeBridge.TestLib.Slow do
  @moduledoc false
  require SnakeBridge.TestLib.PythonPath

  use SnakeBridge.Library,
    python: "sb_library",
    only: ["slow_generate", "echo"],
    streaming: [:slow_generate],
    runtime: [stream_timeout: 100]
end

defmodule SnakeBridge.TestLib.Names do
  @moduledoc false
  # Odd names and signatures (test/support/python/sb_library_names.py); CI compiles this
  # with --warnings-as-errors.
  require SnakeBridge.TestLib.PythonPath
  use SnakeBridge.Library, python: "sb_library_names"
end
