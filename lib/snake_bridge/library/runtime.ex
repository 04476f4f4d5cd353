defmodule SnakeBridge.Library.Runtime do
  @moduledoc false
  # The former name of SnakeBridge.Library.Checked: wrappers printed by
  # `mix snakebridge.gen` before the rename call it, and keep working.

  alias SnakeBridge.Library.Checked

  defdelegate call(module, name, args_opts, signature), to: Checked
  defdelegate method(ref, class, name, args_opts, signature), to: Checked
  defdelegate getattr(ref, class, name, label), to: Checked
  defdelegate stream(module, name, args, opts, callback, signature), to: Checked
  defdelegate split_last(init, last), to: Checked
  defdelegate ok!(result), to: Checked
end
