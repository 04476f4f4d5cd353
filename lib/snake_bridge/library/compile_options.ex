defmodule SnakeBridge.Library.CompileOptions do
  @moduledoc false
  # The Erlang compiler options of generated modules (not of printed source). A wrapper
  # of 2000 Python functions is 10,000 one-call functions in one module, and the
  # compiler's time went (measured, bench/library.exs) to:
  #
  #   * the SSA optimisation passes (types, dead code, sharing, ...), a third of it:
  #     nothing to gain in functions that are one remote call, so they are off;
  #   * garbage collection of the process compiling the module, about half of what was
  #     left: its heap grows step by step to hold the module's Core Erlang, each step a
  #     copy of everything live. `core_transform/2` (a transform that changes nothing)
  #     runs in that process and gives it, once, a heap sized for the module.

  # Skipped passes. They only optimise; the code each function compiles to (moves and
  # one call_ext_only) is the same without them.
  @skipped [:no_ssa_opt, :no_bool_opt, :no_share_opt, :no_bsm_opt, :no_recv_opt, :no_throw_opt]

  # Words of heap per function (a generated function's Core Erlang is about a thousand),
  # and at most 128 MB.
  @words_per_function 1_500
  @max_words 16_000_000

  @doc "The `@compile` attribute of a generated module, as a list (empty in printed source)."
  def quoted(%{source: true}), do: []

  def quoted(_ctx) do
    options = [{:core_transform, __MODULE__} | @skipped]
    [quote(do: @compile(unquote(options)))]
  end

  @doc false
  # Called by the Erlang compiler, in the process compiling the module, with its Core
  # Erlang; returns it unchanged. The flag lasts as long as that process (one module).
  def core_transform(core, _options) do
    functions = length(:cerl.module_defs(core))
    Process.flag(:min_heap_size, min(functions * @words_per_function, @max_words))
    core
  end
end
