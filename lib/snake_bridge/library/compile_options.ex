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
  #   * garbage collection of the process compiling the module, about half of
  #     everything after the module body: that process (Elixir spawns it once the body
  #     has run) holds the module's definitions, then its Erlang forms, then its Core
  #     Erlang (100 MB for 2000 functions), and its heap grew step by step, each step a
  #     copy of everything live. It gets, once, a heap sized for the module: see
  #     `behaviour_info/1`.
  #
  # It now takes about 5 s. What stays is quadratic in the number of functions of the
  # module: the Core Erlang lint (it builds its set of defined functions inserting each
  # at the end of a list, as Elixir hands them over sorted, then looks every export up
  # in it), about 1.5 s for 2000 Python functions, and Elixir's check of every @spec
  # against the function list, about 0.5 s. Neither can be reached from here.

  # Skipped passes. They only optimise; the code each function compiles to (moves and
  # one call_ext_only) is the same without them.
  @skipped [:no_ssa_opt, :no_bool_opt, :no_share_opt, :no_bsm_opt, :no_recv_opt, :no_throw_opt]

  # The heap of the compiling process, in words: its size when the module's definitions
  # are in it, times @heap_factor, at most 128 MB (it grows past that as needed: the
  # Core Erlang made of them is about 5 times their size). 3 and 6 measured the same
  # for 1000 and 2000 functions, and for numpy's many small class modules as none.
  @heap_factor 3
  @max_words 16_000_000

  @doc """
  The `@compile` and `@behaviour` attributes of a generated module, as a list (empty in
  printed source).
  """
  def quoted(%{source: true}), do: []

  def quoted(_ctx) do
    [
      quote(do: @compile(unquote(@skipped))),
      quote(do: @behaviour(unquote(__MODULE__)))
    ]
  end

  @doc false
  # Generated modules declare this module as their behaviour: Elixir calls
  # `behaviour_info/1` of a module's behaviours in the process that compiles the module,
  # once its definitions are read and before any of the heavy work (specs, Erlang forms,
  # Core Erlang, the Erlang compiler). That process, and only it (Elixir's behaviour
  # check is on its stack, a few frames down: the stack read is 8 frames deep by
  # default), gets here a heap sized for the module; the flag lasts as long as the
  # process (one module). The one callback: every generated module, and each of its
  # class modules, defines `__functions__/0`.
  def behaviour_info(:callbacks) do
    {:current_stacktrace, stack} = Process.info(self(), :current_stacktrace)

    if Enum.any?(stack, fn {m, _, _, _} -> m in [Module, :elixir_module] end) do
      {:total_heap_size, words} = Process.info(self(), :total_heap_size)
      Process.flag(:min_heap_size, min(words * @heap_factor, @max_words))
    end

    [__functions__: 0]
  end

  def behaviour_info(:optional_callbacks), do: []
end
