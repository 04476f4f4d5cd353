defmodule SnakeBridge.Sigil do
  @moduledoc ~S'''
  Python inline: `import SnakeBridge.Sigil`, then `~PY"""..."""`.

  The Elixir variables the code names are its globals (converted as arguments are), the
  value of its last line is the sigil's value when that line is an expression (else
  `nil`), and the names the code assigns at its top level become Elixir variables of the
  caller (converted as results are; a name the code deleted is `nil`):

      import SnakeBridge.Sigil

      xs = [3, 1, 2]

      ~PY"""
      import statistics
      mean = statistics.mean(xs)
      ordered = sorted(xs)
      len(xs)
      """
      #=> 3
      mean     #=> 2
      ordered  #=> [1, 2, 3]

  A Python error raises `SnakeBridge.PythonError`; its traceback names the Elixir file
  and the line in it. A syntax error is a compile error at that line.

  Which names the code reads and assigns is found when the sigil is compiled, by Python's
  `symtable` (from the running application's Python, or else by running the build's
  interpreter). Names that are no valid Elixir variable (`Name`, `_private`, `when`) are
  not bound. Python builtins (`len`, `print`) are never taken from Elixir variables.

  `~PY` needs Elixir 1.15 or later (sigils of more than one letter); `~P` is the same
  sigil for Elixir 1.14. The code runs in the embedded Python of this node, without a
  timeout; use `SnakeBridge.eval/3` for runtime options.
  '''

  @sigil_py Path.expand("sigil.py", __DIR__)
  @external_resource @sigil_py
  @source File.read!(@sigil_py)
  @module "_snakebridge_sigil"
  @installed {__MODULE__, :installed}

  @doc "The `~PY` sigil (Elixir 1.15 and later): see the module documentation."
  defmacro sigil_PY(code, modifiers), do: expand(code, modifiers, __CALLER__)

  @doc "`~P`: the same as `~PY`, for Elixir 1.14 (which has one-letter sigils only)."
  defmacro sigil_P(code, modifiers), do: expand(code, modifiers, __CALLER__)

  defp expand(code_ast, modifiers, caller) do
    {code, first_line} = code!(code_ast, modifiers, caller)
    file = Path.relative_to_cwd(caller.file)

    {referenced, defined} =
      case scan(code, file, first_line) do
        {:ok, names} ->
          names

        {:error, line, message} ->
          raise CompileError, file: caller.file, line: line, description: "~PY: " <> message
      end

    globals =
      for name <- referenced,
          var = elixir_var(name),
          var && Macro.Env.has_var?(caller, {var, nil}) do
        {name, Macro.var(var, nil)}
      end

    bound = for name <- defined, var = elixir_var(name), var, do: {name, var}

    assignments =
      for {name, var} <- bound do
        quote do
          unquote({var, [generated: true], nil}) = Map.get(bound, unquote(name))
        end
      end

    names = Enum.map(bound, &elem(&1, 0))

    quote do
      {value, bound} =
        SnakeBridge.Sigil.__run__(
          unquote(code),
          unquote({:%{}, [], globals}),
          unquote(names),
          unquote(file),
          unquote(first_line)
        )

      unquote({:__block__, [], assignments})
      value
    end
  end

  # The code and the line of the file it starts on (a heredoc's is the next one).
  defp code!({:<<>>, meta, [code]}, [], caller) when is_binary(code),
    do: {code, (meta[:line] || caller.line) + if(meta[:indentation], do: 1, else: 0)}

  defp code!(code, [], caller) when is_binary(code), do: {code, caller.line}

  defp code!(_code, [], _caller),
    do: raise(ArgumentError, "~PY takes a plain string of Python code (no interpolation)")

  defp code!(_code, modifiers, _caller),
    do: raise(ArgumentError, "~PY takes no modifiers, got: #{inspect(modifiers)}")

  @reserved ~w(do end fn true false nil when and or not in catch rescue after else)

  defp elixir_var(name) do
    if name =~ ~r/^[a-z][a-zA-Z0-9_]*$/ and name not in @reserved,
      do: String.to_atom(name)
  end

  @doc false
  # At compile time: `{:ok, {referenced, defined}}` or `{:error, line, message}` for a
  # syntax error. Asks the running application's Python, else runs the build's
  # interpreter (a module compiled before the application starts).
  @spec scan(String.t(), String.t(), pos_integer(), :auto | :subprocess) ::
          {:ok, {[String.t()], [String.t()]}} | {:error, pos_integer(), String.t()}
  def scan(code, file, first_line, how \\ :auto) do
    if how == :auto and running?(),
      do: scan_here(code, file, first_line),
      else: scan_subprocess(code, file, first_line)
  end

  defp running? do
    Code.ensure_loaded?(SnakeBridge.Native) and
      List.keymember?(Application.started_applications(), :snakebridge, 0)
  end

  defp scan_here(code, file, first_line) do
    install!()

    case SnakeBridge.call(@module, "scan", [code, file, first_line]) do
      {:ok, {nil, line, message}} -> {:error, line, message}
      {:ok, {refs, defs}} -> {:ok, {refs, defs}}
      {:error, reason} -> raise SnakeBridge.Error.to_exception(reason)
    end
  end

  # One line per name ("R name" / "D name"), or "E line message".
  @script """
  import sys
  ns = {}
  exec(sys.argv[1], ns)
  found = ns["scan"](sys.argv[2], sys.argv[3], int(sys.argv[4]))
  if found[0] is None:
      print("E", found[1], found[2].replace("\\n", " "))
  else:
      for n in found[0]: print("R", n)
      for n in found[1]: print("D", n)
  """

  defp scan_subprocess(code, file, first_line) do
    python = python()
    args = ["-c", @script, @source, code, file, Integer.to_string(first_line)]

    case System.cmd(python, args, stderr_to_stdout: true, env: [{"PYTHONHOME", nil}]) do
      {out, 0} ->
        lines = String.split(out, "\n", trim: true)

        case lines do
          ["E " <> error | _] ->
            [line, message] = String.split(error, " ", parts: 2)
            {:error, String.to_integer(line), message}

          _ ->
            pick = fn tag ->
              for l <- lines, String.starts_with?(l, tag), do: binary_part(l, 2, byte_size(l) - 2)
            end

            {:ok, {pick.("R "), pick.("D ")}}
        end

      {out, status} ->
        raise CompileError,
          file: file,
          line: first_line,
          description: "~PY: #{python} could not read the code (status #{status}): #{out}"
    end
  end

  defp python do
    case SnakeBridge.PythonEnv.choice() do
      {_source, path} -> path
      nil -> elem(SnakeBridge.PythonEnv.build(), 0)
    end
  rescue
    _ -> System.find_executable("python3") || "python3"
  end

  @doc false
  # Runs the code: `{value, %{name => value}}`, or raises SnakeBridge.PythonError.
  @spec __run__(String.t(), map(), [String.t()], String.t(), pos_integer()) :: {term(), map()}
  def __run__(code, globals, names, file, first_line) do
    install!()

    case SnakeBridge.call(@module, "run", [code, globals, names, file, first_line]) do
      {:ok, {value, bound}} -> {value, bound}
      {:error, reason} -> raise SnakeBridge.Error.to_exception(reason)
    end
  end

  # The helper module, made once per Python (it lives in sys.modules).
  defp install! do
    unless :persistent_term.get(@installed, false) do
      {:ok, true} =
        SnakeBridge.eval(
          "__import__('sys').modules.setdefault(name, (lambda m: (exec(src, m.__dict__), m)[1])" <>
            "(__import__('types').ModuleType(name))) is not None",
          %{"name" => @module, "src" => @source}
        )

      :persistent_term.put(@installed, true)
    end

    :ok
  end
end
