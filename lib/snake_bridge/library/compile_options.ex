defmodule SnakeBridge.Library.CompileOptions do
  @moduledoc false
  # The Erlang compiler options of generated modules (not of printed source). A wrapper
  # of 2000 Python functions is 10,400 one-call functions in one module; its compile
  # took about 14.5 s of CPU here: Python's introspection 0.1 s, generating the code
  # 0.15 s, Elixir about 4 s (the module body 0.7 s, specs 1.5 s, Core Erlang 0.8 s,
  # the type check 1.2 s: see Render.data/2), the Erlang compiler about 10 s, of which
  #
  #   * the SSA optimisation passes (types, dead code, sharing, ...), 4 s: nothing to
  #     gain in functions that are one remote call, so they are off;
  #   * garbage collection of the process compiling the module, about half of each
  #     other pass: its heap grows step by step to hold the module's Core Erlang, each
  #     step a copy of everything live. `core_transform/2` (a transform that changes
  #     nothing) runs in that process and gives it, once, a heap sized for the module.
  #
  # What stays: the Core Erlang lint, the first pass (before any transform), 2-4 s for
  # 2000 Python functions, and Elixir's check of every @spec against the function list,
  # both quadratic in the number of functions of the module.

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
