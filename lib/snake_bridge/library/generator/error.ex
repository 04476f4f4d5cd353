defmodule SnakeBridge.Library.Generator.Error do
  @moduledoc false
  # Bad `use SnakeBridge.Library` options or a name collision, found while generating.
  defexception [:message]
end
