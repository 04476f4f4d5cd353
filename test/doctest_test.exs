defmodule SnakeBridge.DoctestTest do
  use ExUnit.Case, async: true

  doctest SnakeBridge
  doctest SnakeBridge.Runtime
  doctest SnakeBridge.Ref
  doctest SnakeBridge.StreamRef
  doctest SnakeBridge.Wire
  doctest SnakeBridge.Iter
  doctest SnakeBridge.Session
  doctest SnakeBridge.Error
  doctest SnakeBridge.PythonError
end
