defmodule SnakeBridge.Library.Generator do
  @moduledoc false
  # Turns the description `snakebridge_library.describe/1` (priv/python) returns into the
  # quoted body of an Elixir module: functions, bang variants, streaming variants,
  # constants, class modules, __functions__/0 and __classes__/0. Used by
  # `use SnakeBridge.Library` (at compile time) and by `mix snakebridge.gen` (printed as
  # source). Nothing here runs when a generated function is called: see
  # SnakeBridge.Library.Runtime for that.

  @reserved ~w(do end fn when in and or not true false nil after else catch rescue)
  @max_unknown 8
  @builtin ~w(__functions__ __classes__ __mix_recompile__? __info__ module_info)

  defmodule Error do
    @moduledoc false
    defexception [:message]
  end

  @doc false
  def reserved, do: @reserved

  @doc """
  The quoted module body for `desc`. `opts`: `:module` (the Elixir module), `:python`,
  `:only`, `:except`, `:streaming`, `:classes`, `:runtime`, `:source` (true: docs as
  `~S` heredocs, for printing). Raises `Error` for bad options and name collisions.
  """
  def body(desc, opts) do
    module = Keyword.fetch!(opts, :module)
    python = Keyword.fetch!(opts, :python)
    only = names(opts[:only], :only)
    except = names(opts[:except], :except) || []
    streaming = names(opts[:streaming], :streaming) || []
    classes? = Keyword.get(opts, :classes, true)
    runtime = Keyword.get(opts, :runtime, [])
    source? = Keyword.get(opts, :source, false)

    unless is_boolean(classes?), do: fail("classes: must be true or false")

    unless Keyword.keyword?(runtime),
      do: fail("runtime: must be a keyword list of __runtime__ options")

    all =
      Enum.map(desc["functions"], & &1["name"]) ++
        Enum.map(desc["constants"], & &1["name"]) ++ Enum.map(desc["classes"], & &1["name"])

    for name <- (only || []) ++ except, name not in all do
      fail("#{inspect(python)} has no public function, class or constant named #{name}")
    end

    keep? = fn name -> (only == nil or name in only) and name not in except end
    functions = Enum.filter(desc["functions"], &keep?.(&1["name"]))
    constants = Enum.filter(desc["constants"], &keep?.(&1["name"]))
    classes = if classes?, do: Enum.filter(desc["classes"], &keep?.(&1["name"])), else: []

    fnames = Enum.map(functions, & &1["name"])

    for name <- streaming, name not in fnames do
      fail("streaming: #{name} is not a generated function of #{inspect(python)}")
    end

    class_mods = Map.new(classes, &{&1["name"], Module.concat(module, class_alias(&1["name"]))})

    ctx = %{
      module: module,
      python: python,
      runtime: runtime,
      classes: class_mods,
      source: source?
    }

    callables = Enum.map(functions, &callable(&1, {:call, python, &1["name"]}, ctx))

    check_collisions!(
      Enum.map(callables, &{&1.ex, &1.py}) ++
        Enum.flat_map(callables, fn c ->
          if c.py in streaming, do: [{:"#{c.ex}_stream", c.py <> " (streaming)"}], else: []
        end) ++
        Enum.map(constants, &{ex_name(&1["name"]), &1["name"]}),
      inspect(module)
    )

    fun_defs = Enum.map(callables, &defs(&1, ctx))

    stream_defs = for c <- callables, c.py in streaming, do: stream_defs(c, ctx)

    const_defs = Enum.map(constants, &constant(&1, ctx))
    class_defs = Enum.map(classes, &class_module(&1, ctx))

    functions_info =
      Enum.flat_map(callables, &info_rows/1) ++
        Enum.map(constants, &{ex_name(&1["name"]), 0, &1["name"]})

    classes_info = Enum.map(classes, &{class_mods[&1["name"]], &1["name"]})

    flatten(
      quote do
        unquote_splicing(fun_defs)
        unquote_splicing(stream_defs)
        unquote_splicing(const_defs)
        unquote_splicing(class_defs)

        @doc """
        The generated functions: `{name, arity, python_signature}` for every arity of every
        function (bang variants and `_stream` variants not listed) and constant.
        """
        @spec __functions__() :: [{atom(), non_neg_integer(), String.t()}]
        def __functions__, do: unquote(Macro.escape(functions_info))

        @doc "The generated class modules: `{module, python_class_name}`."
        @spec __classes__() :: [{module(), String.t()}]
        def __classes__, do: unquote(Macro.escape(classes_info))
      end
    )
  end

  # Nested blocks (one per generated function) spliced into one: the printed source has
  # no parentheses around each group.
  defp flatten(ast) do
    Macro.prewalk(ast, fn
      {:__block__, meta, items} -> {:__block__, meta, Enum.flat_map(items, &unblock/1)}
      other -> other
    end)
  end

  defp unblock({:__block__, _, items}), do: Enum.flat_map(items, &unblock/1)
  defp unblock(other), do: [other]

  # ------------------------------------------------------------------ names

  defp names(nil, _), do: nil

  defp names(list, key) when is_list(list) do
    Enum.map(list, fn
      n when is_binary(n) -> n
      n when is_atom(n) -> Atom.to_string(n)
      other -> fail("#{key}: takes names (strings or atoms), got: #{inspect(other)}")
    end)
  end

  defp names(other, key), do: fail("#{key}: must be a list of names, got: #{inspect(other)}")

  defp fail(message), do: raise(Error, message: message)

  @doc false
  # The Elixir name of a Python name: reserved words get py_, a capitalised name
  # (a constant such as MAX_SIZE) is snake_cased.
  def ex_name(py) when py in @reserved, do: String.to_atom("py_" <> py)

  def ex_name(py) do
    name = if py =~ ~r/^[A-Z]/, do: Macro.underscore(py), else: py
    String.to_atom(name)
  end

  defp class_alias(py), do: py |> Macro.camelize() |> String.to_atom()

  defp check_collisions!(pairs, where) do
    pairs
    |> Enum.group_by(&elem(&1, 0), &elem(&1, 1))
    |> Enum.each(fn
      {ex, _} when ex in [:new] and false ->
        :ok

      {ex, [a, b | _]} ->
        fail(
          "#{where}: the Python names #{a} and #{b} would both become the function #{ex} " <>
            "(use except: to leave one out)"
        )

      {ex, [py]} ->
        if Atom.to_string(ex) in @builtin,
          do: fail("#{where}: the Python name #{py} would become #{ex}, which is reserved")
    end)
  end

  # A Python parameter name as an Elixir variable.
  defp var_name(py, taken) do
    base = if py in @reserved, do: "py_" <> py, else: Macro.underscore(py)
    # A leading underscore would mark the variable unused (a warning for every use).
    base =
      case String.trim_leading(base, "_") do
        "" -> "arg"
        trimmed -> trimmed
      end

    base = if base in ["opts", "callback"], do: base <> "_", else: base
    name = if base in taken, do: base <> "_#{length(taken)}", else: base
    name
  end

  # ------------------------------------------------------------------ callables

  # A Python callable as what the clauses need. target: {:call, module, dotted_name}
  # (a module function, a class, a static or class method) or
  # {:method, name, class} (an instance method: the instance comes first).
  defp callable(f, target, ctx, extra \\ %{}) do
    ex = Map.get(extra, :ex, ex_name(f["name"]))

    base = %{
      py: f["name"],
      ex: ex,
      target: target,
      doc: f["doc"],
      signature: f["signature"],
      returns: spec(f["returns"], ctx),
      self: Map.get(extra, :self),
      label: Map.get(extra, :label, "#{inspect(ctx.module)}.#{ex}")
    }

    case f["params"] do
      nil ->
        Map.put(base, :params, :unknown)

      params ->
        Map.put(
          base,
          :params,
          parse_params(params, ctx, if(base.self, do: [base.self.var], else: []))
        )
    end
  end

  defp parse_params(params, ctx, taken) do
    {vars, _} =
      Enum.map_reduce(params, taken, fn p, taken ->
        v = var_name(p["name"], taken)
        {Map.put(p, "var", v), [v | taken]}
      end)

    positional = Enum.filter(vars, &(&1["kind"] in ["positional_only", "positional"]))
    {req, opt} = Enum.split_while(positional, &(not &1["default"]))

    %{
      req: Enum.map(req, &{&1["var"], spec(&1["type"], ctx)}),
      opt: Enum.map(opt, &{&1["var"], spec(&1["type"], ctx)}),
      var_pos: Enum.any?(vars, &(&1["kind"] == "var_positional")),
      var_kw: Enum.any?(vars, &(&1["kind"] == "var_keyword")),
      kw:
        for(p <- vars, p["kind"] in ["positional", "keyword_only"], do: String.to_atom(p["name"])),
      req_kw:
        for(
          p <- vars,
          p["kind"] == "keyword_only",
          not p["default"],
          do: String.to_atom(p["name"])
        )
    }
  end

  # What the runtime checks for opts: {label, allowed kwargs | :any, required kwargs, runtime}.
  defp info(%{params: :unknown} = c, ctx), do: {c.label, :any, [], ctx.runtime}

  defp info(%{params: p} = c, ctx),
    do: {c.label, if(p.var_kw, do: :any, else: p.kw), p.req_kw, ctx.runtime}

  defp info_rows(%{params: :unknown} = c),
    do: for(n <- 0..@max_unknown, do: {c.ex, n, c.signature || "(...)"})

  defp info_rows(%{params: p} = c) do
    r = length(p.req)
    k = length(p.opt)
    for n <- r..(r + k + 1), do: {c.ex, n, "#{c.py}#{c.signature}"}
  end

  # Every clause of one callable, with its bang variant.
  defp defs(%{params: :unknown} = c, ctx) do
    arities =
      for n <- 0..@max_unknown do
        vars = for i <- 1..n//1, do: {"arg#{i}", quote(do: term())}
        {vars, n > 0}
      end

    clauses(c, arities, false, ctx)
  end

  defp defs(%{params: p} = c, ctx) do
    r = length(p.req)
    k = length(p.opt)
    all = p.req ++ p.opt

    if k == 0 do
      clauses(c, [{all, false}], true, ctx)
    else
      arities = for n <- r..(r + k), do: {Enum.take(all, n), n > r}
      clauses(c, arities, true, ctx)
    end
  end

  # arities: [{positional vars, last_may_be_opts?}]. with_opts?: the longest also takes
  # a trailing opts (for :unknown the opts come only as a keyword list in last place).
  defp clauses(c, arities, with_opts?, ctx) do
    info = info(c, ctx)
    fast? = elem(info, 2) == [] and ctx.runtime == []
    {first_vars, _} = hd(arities)
    {last_vars, _} = List.last(arities)
    main_arity = length(self_vars(c)) + length(first_vars)

    plain =
      Enum.with_index(arities, fn {vars, last_opts?}, i ->
        doc =
          if i == 0,
            do: main_doc(c, ctx),
            else: "See `#{c.ex}/#{main_arity}` (the same Python function, more arguments)."

        single = one_arity(c, vars, last_opts?, info, fast?, ctx)
        doc_attr = doc_attr(doc, ctx)

        quote(
          do:
            (
              unquote(doc_attr)
              unquote(single)
            )
        )
      end)

    longest =
      if with_opts?,
        do: [
          quote do
            unquote(
              doc_attr(
                if(length(arities) == 1,
                  do: main_doc(c, ctx),
                  else: "See `#{c.ex}/#{main_arity}`."
                ),
                ctx
              )
            )

            unquote(with_trailing_opts(c, last_vars, info, fast?, ctx, length(arities) == 1))
          end
        ],
        else: []

    # One clause block per arity (docs above); the single-arity case uses opts \\ [].
    plain = if with_opts? and length(arities) == 1, do: [], else: plain
    bang = bangs(c, arities, with_opts?)
    quote(do: (unquote_splicing(plain ++ longest ++ bang)))
  end

  defp self_vars(%{self: nil}), do: []
  defp self_vars(%{self: s}), do: [{s.var, s.type}]

  defp vars_ast(vars), do: Enum.map(vars, fn {v, _} -> Macro.var(String.to_atom(v), nil) end)
  defp types_ast(vars), do: Enum.map(vars, fn {_, t} -> t end)

  defp ok_type(c), do: quote(do: {:ok, unquote(c.returns)} | {:error, SnakeBridge.Error.reason()})

  # f(a, b) where b may be the opts (a keyword list in last place).
  defp one_arity(c, vars, last_opts?, info, fast?, _ctx) do
    name = c.ex
    sv = self_vars(c)
    args = vars_ast(sv ++ vars)
    pos = vars_ast(vars)

    types =
      if last_opts? do
        {init, [{_, t}]} = Enum.split(vars, -1)
        types_ast(sv ++ init) ++ [quote(do: unquote(t) | keyword())]
      else
        types_ast(sv ++ vars)
      end

    spec = quote(do: @spec(unquote(name)(unquote_splicing(types)) :: unquote(ok_type(c))))

    if last_opts? do
      {init, [last]} = Enum.split(pos, -1)
      fast_call = call_ast(c, pos, [], info, fast?)

      quote do
        unquote(spec)

        def unquote(name)(unquote_splicing(args)) when not is_list(unquote(last)),
          do: unquote(guarded(c, fast_call, init ++ [last], [], info))

        def unquote(name)(unquote_splicing(args)),
          do:
            unquote(
              runtime_call(
                c,
                quote(do: SnakeBridge.Library.Runtime.split_last(unquote(init), unquote(last))),
                info
              )
            )
      end
    else
      quote do
        unquote(spec)

        def unquote(name)(unquote_splicing(args)),
          do: unquote(guarded(c, call_ast(c, pos, [], info, fast?), pos, [], info))
      end
    end
  end

  # f(a, b, opts \\ []).
  defp with_trailing_opts(c, vars, info, fast?, _ctx, default?) do
    name = c.ex
    sv = self_vars(c)
    opts = Macro.var(:opts, nil)
    args = vars_ast(sv ++ vars)
    pos = vars_ast(vars)
    types = types_ast(sv ++ vars) ++ [quote(do: keyword())]
    spec = quote(do: @spec(unquote(name)(unquote_splicing(types)) :: unquote(ok_type(c))))
    head_args = if default?, do: args ++ [quote(do: unquote(opts) \\ [])], else: args ++ [opts]
    fast_clause_args = args ++ [[]]

    fast =
      if fast? or info |> elem(2) == [] do
        [
          quote do
            def unquote(name)(unquote_splicing(fast_clause_args)),
              do: unquote(guarded(c, call_ast(c, pos, [], info, fast?), pos, [], info))
          end
        ]
      else
        []
      end

    quote do
      unquote(spec)
      def unquote(name)(unquote_splicing(head_args))
      unquote_splicing(fast)

      def unquote(name)(unquote_splicing(args ++ [opts])),
        do: unquote(runtime_call(c, quote(do: {unquote(pos), unquote(opts)}), info))
    end
  end

  # The direct call (no opts to check): the same as SnakeBridge.call/4 or Ref.method/4.
  defp call_ast(c, pos, [], {_, _, [], runtime}, _fast?) do
    opts = if runtime == [], do: [], else: [__runtime__: runtime]

    case c.target do
      {:call, module, name} ->
        quote(do: SnakeBridge.call(unquote(module), unquote(name), unquote(pos), unquote(opts)))

      {:method, name, _class} ->
        self = Macro.var(String.to_atom(c.self.var), nil)

        quote(
          do: SnakeBridge.Ref.method(unquote(self), unquote(name), unquote(pos), unquote(opts))
        )
    end
  end

  # Required keyword arguments: always through the runtime (it raises naming them).
  defp call_ast(c, pos, [], info, _fast?),
    do: runtime_call(c, quote(do: {unquote(pos), []}), info)

  # Through SnakeBridge.Library.Runtime: `split` evaluates to {positionals, opts}.
  defp runtime_call(c, split, info) do
    info = Macro.escape(info)

    case c.target do
      {:call, module, name} ->
        quote(
          do:
            SnakeBridge.Library.Runtime.call(
              unquote(module),
              unquote(name),
              unquote(split),
              unquote(info)
            )
        )

      {:method, name, class} ->
        self = Macro.var(String.to_atom(c.self.var), nil)

        quote(
          do:
            SnakeBridge.Library.Runtime.method(
              unquote(self),
              unquote(Macro.escape(class)),
              unquote(name),
              unquote(split),
              unquote(info)
            )
        )
    end
  end

  # Instance methods: the fast path only for a Ref of exactly this class (matched in
  # the head, no Python); anything else goes through SnakeBridge.Library.Runtime.method, which checks it.
  defp guarded(%{self: nil}, call, _pos, _opts, _info), do: call

  defp guarded(c, call, pos, opts, info) do
    self = Macro.var(String.to_atom(c.self.var), nil)
    {_, _, class} = c.target
    {_, module, qualname} = class

    quote do
      case unquote(self) do
        %SnakeBridge.Ref{type_name: unquote(qualname), python_module: unquote(module)} ->
          unquote(call)

        _ ->
          unquote(runtime_call(c, quote(do: {unquote(pos), unquote(opts)}), info))
      end
    end
  end

  defp bangs(c, arities, with_opts?) do
    sv = self_vars(c)
    bang = :"#{c.ex}!"
    main = length(sv) + length(elem(hd(arities), 0))
    doc = "Like `#{c.ex}/#{main}`, but returns the value or raises."
    {last, _} = List.last(arities)
    opts = Macro.var(:opts, nil)

    if with_opts? and length(arities) == 1 do
      args = vars_ast(sv ++ last)
      types = types_ast(sv ++ last) ++ [quote(do: keyword())]

      [
        quote do
          @doc unquote(doc)
          @spec unquote(bang)(unquote_splicing(types)) :: unquote(c.returns)
          def unquote(bang)(unquote_splicing(args), unquote(opts) \\ []),
            do:
              SnakeBridge.Library.Runtime.ok!(
                __MODULE__.unquote(c.ex)(unquote_splicing(args), unquote(opts))
              )
        end
      ]
    else
      sets =
        Enum.map(arities, &vars_ast(sv ++ elem(&1, 0))) ++
          if with_opts?, do: [vars_ast(sv ++ last) ++ [opts]], else: []

      Enum.with_index(sets, fn args, i ->
        quote do
          @doc unquote(if i == 0, do: doc, else: false)
          @spec unquote(bang)(unquote_splicing(Enum.map(args, fn _ -> quote(do: term()) end))) ::
                  unquote(c.returns)
          def unquote(bang)(unquote_splicing(args)),
            do: SnakeBridge.Library.Runtime.ok!(__MODULE__.unquote(c.ex)(unquote_splicing(args)))
        end
      end)
    end
  end

  # ------------------------------------------------------------------ streaming

  defp stream_defs(%{params: params} = c, ctx) do
    req = if params == :unknown, do: [], else: params.req
    info = Macro.escape(info(c, ctx))
    {:call, module, fname} = c.target
    name = :"#{c.ex}_stream"
    pos = vars_ast(req)
    types = types_ast(req)
    opts = Macro.var(:opts, nil)
    cb = Macro.var(:callback, nil)
    n = length(req)
    cb_type = quote(do: (term() -> :ok | :halt))

    doc = """
    Streams `#{ctx.python}.#{fname}` through `SnakeBridge.stream/5`: `callback` gets every
    item the Python function yields (it returns `:ok` to go on, `:halt` to stop). The
    optional parameters of the Python function go in `opts` by name, with
    `__runtime__: [stream_timeout: ...]` and the other runtime options.

    Returns `:ok`, `{:error, :timeout}` or `{:error, reason}`. Without a callback
    (`#{name}/#{n}`, or `#{name}/#{n + 1}` with a keyword list) the items are collected:
    `{:ok, items}`.

    ```python
    #{fname}#{c.signature}
    ```
    """

    quote do
      @doc unquote(doc_value(doc, ctx))
      @spec unquote(name)(unquote_splicing(types), keyword(), unquote(cb_type)) ::
              :ok | {:error, SnakeBridge.Error.reason()}
      def unquote(name)(unquote_splicing(pos), unquote(opts), unquote(cb)),
        do:
          SnakeBridge.Library.Runtime.stream(
            unquote(module),
            unquote(fname),
            unquote(pos),
            unquote(opts),
            unquote(cb),
            unquote(info)
          )

      @doc "See `#{unquote(name)}/#{unquote(n + 2)}`."
      @spec unquote(name)(unquote_splicing(types), keyword() | unquote(cb_type)) ::
              :ok | {:ok, list()} | {:error, SnakeBridge.Error.reason()}
      def unquote(name)(unquote_splicing(pos), unquote(cb)) when is_function(unquote(cb), 1),
        do:
          SnakeBridge.Library.Runtime.stream(
            unquote(module),
            unquote(fname),
            unquote(pos),
            [],
            unquote(cb),
            unquote(info)
          )

      def unquote(name)(unquote_splicing(pos), unquote(opts)),
        do:
          SnakeBridge.Library.Runtime.stream(
            unquote(module),
            unquote(fname),
            unquote(pos),
            unquote(opts),
            nil,
            unquote(info)
          )

      @doc "See `#{unquote(name)}/#{unquote(n + 2)}`: the items collected, `{:ok, items}`."
      @spec unquote(name)(unquote_splicing(types)) ::
              {:ok, list()} | {:error, SnakeBridge.Error.reason()}
      def unquote(name)(unquote_splicing(pos)),
        do:
          SnakeBridge.Library.Runtime.stream(
            unquote(module),
            unquote(fname),
            unquote(pos),
            [],
            nil,
            unquote(info)
          )
    end
  end

  # ------------------------------------------------------------------ constants

  defp constant(%{"name" => py, "value" => value}, ctx) do
    name = ex_name(py)
    doc = "The Python constant `#{ctx.python}.#{py}`, as it was when this module was compiled."

    quote do
      @doc unquote(doc)
      def unquote(name)(), do: unquote(Macro.escape(value))
    end
  end

  # ------------------------------------------------------------------ classes

  defp class_module(cls, ctx) do
    mod = ctx.classes[cls["name"]]
    label = inspect(mod)
    python = ctx.python
    class = {:class, cls["module"], cls["qualname"]}
    self_var = cls["name"] |> Macro.underscore() |> String.replace(~r/[^a-z0-9_]/, "_")

    self_var =
      if self_var in @reserved or self_var in ["opts", "callback"], do: "ref", else: self_var

    self = %{var: self_var, type: quote(do: t())}

    new =
      callable(
        Map.put(cls["init"], "doc", cls["doc"]),
        {:call, python, cls["qualname"]},
        ctx,
        %{ex: :new, label: "#{label}.new"}
      )

    methods =
      for m <- cls["methods"] do
        ex = ex_name(m["name"])
        extra = %{ex: ex, label: "#{label}.#{ex}"}

        if m["kind"] == "method",
          do: callable(m, {:method, m["name"], class}, ctx, Map.put(extra, :self, self)),
          else: callable(m, {:call, python, cls["qualname"] <> "." <> m["name"]}, ctx, extra)
      end

    attrs = cls["attributes"]

    check_collisions!(
      [{:new, "__init__"}] ++
        Enum.map(methods, &{&1.ex, &1.py}) ++ Enum.map(attrs, &{ex_name(&1["name"]), &1["name"]}),
      label
    )

    getters = Enum.map(attrs, &getter(&1, class, self, label, ctx))
    funs = Enum.map([new | methods], &defs(&1, ctx))

    functions_info =
      Enum.flat_map([new | methods], &info_rows/1) ++
        Enum.map(attrs, &{ex_name(&1["name"]), 1, &1["name"]})

    moduledoc =
      "The Python class `#{cls["module"]}.#{cls["qualname"]}`: `new` makes one (a " <>
        "`SnakeBridge.Ref`), the other functions take it first." <>
        if(cls["doc"], do: "\n\n" <> cls["doc"], else: "")

    # In printed source, nested by its short name (a full alias inside the parent
    # would nest twice).
    name =
      if ctx.source,
        do: {:__aliases__, [], [class_alias(cls["name"])]},
        else: mod

    quote do
      defmodule unquote(name) do
        @moduledoc unquote(doc_value(moduledoc, ctx))

        @typedoc "An instance of the Python class (a `SnakeBridge.Ref`)."
        @opaque t :: SnakeBridge.Ref.t()

        unquote_splicing(funs)
        unquote_splicing(getters)

        @doc "The generated functions: `{name, arity, python_signature}`."
        def __functions__, do: unquote(Macro.escape(functions_info))
      end
    end
  end

  defp getter(attr, class, self, label, ctx) do
    name = ex_name(attr["name"])
    bang = :"#{name}!"
    var = Macro.var(String.to_atom(self.var), nil)
    py = attr["name"]
    {_, module, qualname} = class
    type = spec(attr["type"], ctx)

    doc =
      "The #{attr["kind"]} `#{py}` of the instance." <>
        if(attr["doc"], do: "\n\n" <> attr["doc"], else: "")

    quote do
      @doc unquote(doc_value(doc, ctx))
      @spec unquote(name)(t()) :: {:ok, unquote(type)} | {:error, SnakeBridge.Error.reason()}
      def unquote(name)(
            %SnakeBridge.Ref{type_name: unquote(qualname), python_module: unquote(module)} =
              unquote(var)
          ),
          do: SnakeBridge.Ref.getattr(unquote(var), unquote(py))

      def unquote(name)(unquote(var)),
        do:
          SnakeBridge.Library.Runtime.getattr(
            unquote(var),
            unquote(Macro.escape(class)),
            unquote(py),
            unquote("#{label}.#{name}")
          )

      @doc "Like `#{unquote(name)}/1`, but returns the value or raises."
      @spec unquote(bang)(t()) :: unquote(type)
      def unquote(bang)(unquote(var)),
        do: SnakeBridge.Library.Runtime.ok!(__MODULE__.unquote(name)(unquote(var)))
    end
  end

  # ------------------------------------------------------------------ docs and types

  defp main_doc(c, ctx) do
    sig =
      case c.target do
        {:call, _, name} -> "#{ctx.python}.#{name}#{c.signature || "(...)"}"
        {:method, name, {_, _, q}} -> "#{q}.#{name}#{c.signature || "(...)"}"
      end

    how =
      case c.params do
        :unknown ->
          "Python does not report this function's signature: it takes up to #{@max_unknown} " <>
            "positional arguments; a keyword list in last place is `opts` (Python keyword " <>
            "arguments and `__runtime__: [...]`)."

        p ->
          kw =
            cond do
              p.var_kw -> "Python keyword arguments (any name)"
              p.kw == [] -> "no Python keyword arguments"
              true -> "Python keyword arguments (#{Enum.map_join(p.kw, ", ", &"`#{&1}`")})"
            end

          "`opts`: #{kw}, `__runtime__: [...]` as for `SnakeBridge.call/4`" <>
            if(p.var_pos or p.opt != [],
              do: ", `__args__: [...]` (more positional arguments)",
              else: ""
            ) <>
            "." <>
            if(p.req_kw != [],
              do: " Required: #{Enum.map_join(p.req_kw, ", ", &"`#{&1}`")}.",
              else: ""
            ) <>
            if(p.opt != [],
              do: " A keyword list (`[]` too) in the last place is taken as `opts`.",
              else: ""
            )
      end

    "```python\n#{sig}\n```\n\n" <>
      (c.doc || "") <>
      "\n\n" <>
      how <>
      " Returns `{:ok, value}` or `{:error, reason}`, like `SnakeBridge.call/4`."
  end

  defp doc_attr(doc, ctx), do: quote(do: @doc(unquote(doc_value(doc, ctx))))

  # In printed source a doc is a ~S heredoc (readable, nothing escaped).
  defp doc_value(doc, %{source: true}) when is_binary(doc) do
    if String.contains?(doc, ~s(""")),
      do: doc,
      else:
        {:sigil_S, [delimiter: ~s(""")], [{:<<>>, [], [String.trim_trailing(doc) <> "\n"]}, []]}
  end

  defp doc_value(doc, _ctx), do: doc

  defp spec("term", _), do: quote(do: term())
  defp spec("nil", _), do: nil
  defp spec("boolean", _), do: quote(do: boolean())
  defp spec("integer", _), do: quote(do: integer())
  defp spec("float", _), do: quote(do: float())
  defp spec("string", _), do: quote(do: String.t())
  defp spec("binary", _), do: quote(do: binary())
  defp spec("tuple", _), do: quote(do: tuple())
  defp spec("stream", _), do: quote(do: SnakeBridge.StreamRef.t())
  defp spec(["list", t], ctx), do: [spec(t, ctx)]

  defp spec(["map", k, v], ctx),
    do: quote(do: %{optional(unquote(spec(k, ctx))) => unquote(spec(v, ctx))})

  defp spec(["tuple", ts], ctx), do: {:{}, [], Enum.map(ts, &spec(&1, ctx))}

  defp spec(["union", ts], ctx) do
    ts
    |> Enum.map(&spec(&1, ctx))
    |> Enum.uniq()
    |> Enum.reduce(&quote(do: unquote(&2) | unquote(&1)))
  end

  defp spec(["class", name], ctx) do
    case ctx.classes do
      %{^name => mod} -> quote(do: unquote(mod).t())
      _ -> quote(do: SnakeBridge.Ref.t())
    end
  end

  defp spec(_, _), do: quote(do: term())
end
