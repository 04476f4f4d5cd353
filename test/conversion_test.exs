defmodule SnakeBridge.ConversionTest do
  # Every row of the value conversion table, both ways, against the embedded Python.
  use ExUnit.Case, async: true

  import Bitwise

  alias SnakeBridge.ConversionError

  @lib "sb_foundation"

  defp py(function, args, opts \\ []), do: SnakeBridge.call(@lib, function, args, opts)
  defp roundtrip(term), do: py("identity", [term])
  defp type_name(term), do: SnakeBridge.call!(@lib, "type_name", [term])
  defp describe(term), do: SnakeBridge.call!(@lib, "describe", [term])
  defp eval(expr), do: SnakeBridge.call("builtins", "eval", [expr])

  describe "nil, true, false" do
    test "Elixir to Python" do
      assert describe(nil) == {"NoneType", "None"}
      assert describe(true) == {"bool", "True"}
      assert describe(false) == {"bool", "False"}
    end

    test "Python to Elixir" do
      assert eval("None") == {:ok, nil}
      assert eval("True") == {:ok, true}
      assert eval("False") == {:ok, false}
      assert SnakeBridge.call("operator", "not_", [nil]) == {:ok, true}
    end

    test "round trip" do
      for v <- [nil, true, false], do: assert(roundtrip(v) == {:ok, v})
    end
  end

  describe "integers" do
    test "small integers both ways" do
      for i <- [0, 1, -1, 42, -42, 2_147_483_647, -2_147_483_648] do
        assert describe(i) == {"int", Integer.to_string(i)}
        assert roundtrip(i) == {:ok, i}
      end

      assert SnakeBridge.call("operator", "add", [40, 2]) == {:ok, 42}
    end

    test "the 64-bit boundaries" do
      for i <- [
            9_223_372_036_854_775_807,
            -9_223_372_036_854_775_808,
            9_223_372_036_854_775_808,
            -9_223_372_036_854_775_809,
            18_446_744_073_709_551_615,
            18_446_744_073_709_551_616
          ] do
        assert describe(i) == {"int", Integer.to_string(i)}
        assert roundtrip(i) == {:ok, i}
      end
    end

    test "huge integers, positive and negative, both ways" do
      huge = Integer.pow(2, 200) + 12_345
      neg = -Integer.pow(3, 150)

      assert describe(huge) == {"int", Integer.to_string(huge)}
      assert describe(neg) == {"int", Integer.to_string(neg)}
      assert roundtrip(huge) == {:ok, huge}
      assert roundtrip(neg) == {:ok, neg}

      # computed by Python
      assert SnakeBridge.call("builtins", "pow", [2, 100]) == {:ok, Integer.pow(2, 100)}
      assert SnakeBridge.call("builtins", "pow", [-7, 51]) == {:ok, Integer.pow(-7, 51)}
      assert SnakeBridge.call("operator", "mul", [huge, neg]) == {:ok, huge * neg}

      assert SnakeBridge.call("math", "factorial", [30]) ==
               {:ok, 265_252_859_812_191_058_636_308_480_000_000}
    end
  end

  describe "subclasses of built-in types" do
    test "int subclasses (bool aside) become integers" do
      assert eval("__import__('enum').IntEnum('E', 'A B')(2)") == {:ok, 2}
    end

    test "namedtuples become tuples" do
      assert eval("__import__('collections').namedtuple('P', 'x y')(1, 2)") == {:ok, {1, 2}}
    end

    test "dict subclasses become maps" do
      assert SnakeBridge.call("collections", "Counter", ["abca"]) ==
               {:ok, %{"a" => 2, "b" => 1, "c" => 1}}

      assert SnakeBridge.call("collections", "OrderedDict", [[{"k", 1}]]) == {:ok, %{"k" => 1}}
    end
  end

  describe "floats" do
    test "finite floats both ways" do
      for f <- [0.0, 1.5, -2.25, 1.0e300, -1.0e-300, 3.141592653589793] do
        assert {"float", _} = describe(f)
        assert roundtrip(f) == {:ok, f}
      end

      assert SnakeBridge.call("math", "sqrt", [2.25]) == {:ok, 1.5}
      assert SnakeBridge.call("operator", "truediv", [1, 4]) == {:ok, 0.25}
    end

    test "inf, -inf and nan from Python become atoms" do
      assert SnakeBridge.call("builtins", "float", ["inf"]) == {:ok, :infinity}
      assert SnakeBridge.call("builtins", "float", ["-inf"]) == {:ok, :neg_infinity}
      assert SnakeBridge.call("builtins", "float", ["nan"]) == {:ok, :nan}
      assert eval("float('inf') * -1") == {:ok, :neg_infinity}
    end

    test ":infinity, :neg_infinity and :nan become Python floats" do
      assert describe(:infinity) == {"float", "inf"}
      assert describe(:neg_infinity) == {"float", "-inf"}
      assert describe(:nan) == {"float", "nan"}
      assert SnakeBridge.call("math", "isinf", [:infinity]) == {:ok, true}
      assert SnakeBridge.call("math", "isnan", [:nan]) == {:ok, true}
      assert SnakeBridge.call("operator", "lt", [:neg_infinity, -1.0e308]) == {:ok, true}

      for a <- [:infinity, :neg_infinity, :nan], do: assert(roundtrip(a) == {:ok, a})
    end
  end

  describe "items of big containers (converted without a new reference when exact)" do
    test "exact ints, floats and strs beside their subclasses and edge values" do
      code = """
      import enum
      class I(int): pass
      class S(str): pass
      class F(float): pass
      class Color(enum.IntEnum):
          RED = 1
      items = [0, -1, 2**63 - 1, -2**63, 2**63, -2**63 - 1, 10**40, True, False, I(7),
               Color.RED, 1.5, float('nan'), float('inf'), -0.0, F(2.5), "", "é ü", S("s"),
               "x" * 70000, None, b"b", [1, [2.5, "y"]], (3, "z")]
      """

      expected = [
        0,
        -1,
        2 ** 63 - 1,
        -(2 ** 63),
        2 ** 63,
        -(2 ** 63) - 1,
        10 ** 40,
        true,
        false,
        7,
        1,
        1.5,
        :nan,
        :infinity,
        -0.0,
        2.5,
        "",
        "é ü",
        "s",
        String.duplicate("x", 70_000),
        nil,
        "b",
        [1, [2.5, "y"]],
        {3, "z"}
      ]

      assert {:ok, %{"items" => list}} = SnakeBridge.eval(code)
      assert list == expected

      assert SnakeBridge.eval(code <> "\nt = tuple(items)") |> elem(1) |> Map.get("t") ==
               List.to_tuple(expected)
    end

    test "ints at the edges of CPython's 30-bit digits and of 64 bits, alone and in lists" do
      edges =
        for e <- [0, 15, 29, 30, 31, 59, 60, 61, 62, 63, 64, 90],
            base = Integer.pow(2, e),
            d <- [-1, 0, 1],
            sign <- [1, -1],
            do: sign * (base + d)

      edges = Enum.uniq(edges ++ [-(2 ** 63), 2 ** 63 - 1, 10 ** 18, -(10 ** 18)])
      code = "[" <> Enum.map_join(edges, ", ", &Integer.to_string/1) <> "]"

      assert SnakeBridge.eval(code) == {:ok, edges}
      assert SnakeBridge.eval("tuple(#{code})") == {:ok, List.to_tuple(edges)}
      assert SnakeBridge.eval("{i: -i for i in #{code}}") == {:ok, Map.new(edges, &{&1, -&1})}

      for i <- edges do
        assert SnakeBridge.eval(Integer.to_string(i)) == {:ok, i}
      end

      # Ints made by arithmetic (not only literals), over every digit count up to 3.
      assert {:ok, made} =
               SnakeBridge.eval("[(1 << k) + j for k in range(0, 95) for j in (-3, 0, 3)]")

      assert made == for(k <- 0..94, j <- [-3, 0, 3], do: Integer.pow(2, k) + j)
    end

    test "a str that cannot be UTF-8 among exact items fails the whole result clearly" do
      assert {:error, %SnakeBridge.PythonError{type: "UnicodeEncodeError"}} =
               SnakeBridge.eval("[1, 2.0, 'ok', '\\ud800']")

      # and the interpreter goes on converting
      assert SnakeBridge.eval("[1, 'ok']") == {:ok, [1, "ok"]}
    end

    test "1M-item lists of ints, floats and strs, contents compared" do
      n = 1_000_000
      assert SnakeBridge.eval("list(range(#{n}))") == {:ok, Enum.to_list(0..(n - 1))}

      assert {:ok, floats} = SnakeBridge.eval("[i * 0.5 for i in range(#{n})]")
      assert floats == Enum.map(0..(n - 1), &(&1 * 0.5))

      assert {:ok, strs} = SnakeBridge.eval("[f's{i}' for i in range(#{n})]")
      assert strs == Enum.map(0..(n - 1), &"s#{&1}")
    end
  end

  describe "large lists and tuples (their items gathered in a buffer kept between calls)" do
    test "nested large lists and tuples, then a shorter one, contents compared" do
      n = 20_000

      code = """
      inner = list(range(#{n}))
      items = [inner, tuple(range(-#{n}, 0)), [inner, [("a", i) for i in range(#{n})]], 7]
      after = [i * 2 for i in range(#{n} + 1)]
      shorter = list(range(#{n} // 2))
      """

      inner = Enum.to_list(0..(n - 1))
      pairs = for i <- 0..(n - 1), do: {"a", i}

      assert {:ok, %{"items" => items, "after" => after_, "shorter" => shorter}} =
               SnakeBridge.eval(code)

      assert items == [inner, List.to_tuple(Enum.to_list(-n..-1)), [inner, pairs], 7]
      assert after_ == Enum.map(0..n, &(&1 * 2))
      assert shorter == Enum.to_list(0..(div(n, 2) - 1))
    end

    test "lists whose items all join one run (from a str on), of every plain kind" do
      row = ["s", 1, -(2 ** 40), 2 ** 62, 2.5, :infinity, nil, true, false, "é", ""]

      code = "['s', 1, -2**40, 2**62, 2.5, float('inf'), None, True, False, 'é', ''] * 3000"

      assert SnakeBridge.eval(code) == {:ok, List.flatten(List.duplicate(row, 3000))}
      assert SnakeBridge.eval("['a'] * 8") == {:ok, List.duplicate("a", 8)}
      assert SnakeBridge.eval("[]") == {:ok, []}
      assert SnakeBridge.eval("[[]] * 10") == {:ok, List.duplicate([], 10)}
    end

    test "a large list that fails part-way, then large lists convert whole" do
      assert {:error, %SnakeBridge.PythonError{type: "UnicodeEncodeError"}} =
               SnakeBridge.eval("[1] * 30000 + ['\\ud800'] + [2] * 30000")

      assert SnakeBridge.eval("[3] * 30000 + [4] * 10") ==
               {:ok, List.duplicate(3, 30_000) ++ List.duplicate(4, 10)}
    end

    test "a list above the kept buffer's size (2^20 items), then large lists again" do
      n = (1 <<< 20) + 10_000
      assert SnakeBridge.eval("list(range(#{n}, 0, -1))") == {:ok, Enum.to_list(n..1//-1)}

      assert SnakeBridge.eval("tuple(range(#{n}))") ==
               {:ok, List.to_tuple(Enum.to_list(0..(n - 1)))}

      assert SnakeBridge.eval("[-i for i in range(30000)]") ==
               {:ok, Enum.map(0..29_999, &(-&1))}
    end

    test "large lists converted by several processes at once" do
      tasks =
        for k <- 1..4 do
          Task.async(fn ->
            for _ <- 1..3 do
              assert SnakeBridge.eval("list(range(#{k}, #{k} + 50000 * #{k}))") ==
                       {:ok, Enum.to_list(k..(k + 50_000 * k - 1))}
            end
          end)
        end

      Task.await_many(tasks, 60_000)
    end
  end

  describe "binaries and strings" do
    test "UTF-8 binaries become str and come back" do
      for s <- ["", "hello", "héllo wörld", "日本語", "emoji 🐍", "nul\0inside"] do
        assert type_name(s) == "str"
        assert roundtrip(s) == {:ok, s}
      end

      assert SnakeBridge.call("builtins", "len", ["日本語"]) == {:ok, 3}
      assert SnakeBridge.call("builtins", "str.upper", ["héllo"]) == {:ok, "HÉLLO"}
    end

    test "non-UTF-8 binaries become bytes" do
      bin = <<0xFF, 0xFE, 0, 1, 200>>
      assert type_name(bin) == "bytes"
      assert SnakeBridge.call("builtins", "len", [bin]) == {:ok, 5}
      assert SnakeBridge.call("builtins", "list", [bin]) == {:ok, [255, 254, 0, 1, 200]}
      assert roundtrip(bin) == {:ok, bin}
    end

    test "Python bytes and bytearray become binaries" do
      assert SnakeBridge.call("builtins", "bytes", [[104, 105, 255]]) == {:ok, <<104, 105, 255>>}
      assert eval("b'abc'") == {:ok, "abc"}
      assert eval("b''") == {:ok, ""}
      assert eval("bytearray(b'\\x00\\x01')") == {:ok, <<0, 1>>}
      assert SnakeBridge.call("builtins", "str.encode", ["é"]) == {:ok, <<0xC3, 0xA9>>}
    end
  end

  describe "lists and tuples" do
    test "lists both ways" do
      assert describe([1, "a", nil]) == {"list", "[1, 'a', None]"}
      assert describe([]) == {"list", "[]"}
      assert roundtrip([1, [2, [3, []]], "x"]) == {:ok, [1, [2, [3, []]], "x"]}
      assert SnakeBridge.call("builtins", "sorted", [[3, 1, 2]]) == {:ok, [1, 2, 3]}
      assert eval("[i * i for i in range(4)]") == {:ok, [0, 1, 4, 9]}
    end

    test "tuples both ways" do
      assert describe({1, "a"}) == {"tuple", "(1, 'a')"}
      assert describe({}) == {"tuple", "()"}
      assert describe({1}) == {"tuple", "(1,)"}
      assert roundtrip({1, {2, {}}, "x"}) == {:ok, {1, {2, {}}, "x"}}
      assert SnakeBridge.call("builtins", "divmod", [17, 5]) == {:ok, {3, 2}}
      assert eval("()") == {:ok, {}}
      assert eval("(1, [2, (3,)])") == {:ok, {1, [2, {3}]}}
    end

    test "a list inside a tuple stays a list" do
      assert describe({1, [2, 3]}) == {"tuple", "(1, [2, 3])"}
      assert roundtrip({1, [2, {3, [4]}]}) == {:ok, {1, [2, {3, [4]}]}}

      assert SnakeBridge.call!(@lib, "member_type_names", [{[1], MapSet.new([2])}]) ==
               ["list", "set"]
    end

    test "a list inside a tuple that is a dict key or a set member becomes a tuple" do
      assert SnakeBridge.call!(@lib, "key_type_names", [%{[1, 2] => "v"}]) == ["tuple"]
      assert roundtrip(%{{1, [2]} => "v"}) == {:ok, %{{1, {2}} => "v"}}
      assert roundtrip(MapSet.new([[1, 2]])) == {:ok, MapSet.new([{1, 2}])}
    end
  end

  describe "maps and dicts" do
    test "maps become dicts" do
      assert describe(%{"a" => 1}) == {"dict", "{'a': 1}"}
      assert describe(%{}) == {"dict", "{}"}
      assert SnakeBridge.call("builtins", "len", [%{"a" => 1, "b" => 2}]) == {:ok, 2}
    end

    test "dicts become maps" do
      assert eval("{'a': 1, 'b': [1, 2]}") == {:ok, %{"a" => 1, "b" => [1, 2]}}
      assert eval("dict(zip(range(3), 'abc'))") == {:ok, %{0 => "a", 1 => "b", 2 => "c"}}
    end

    test "non-string keys: integers, tuples, floats, None, booleans" do
      map = %{1 => "int", {1, "two"} => "tuple", 2.5 => "float", nil => "none", -7 => "neg"}
      assert roundtrip(map) == {:ok, map}

      assert SnakeBridge.call!(@lib, "key_type_names", [map]) ==
               ["NoneType", "float", "int", "int", "tuple"]
    end

    test "nested maps round-trip" do
      nested = %{
        "a" => %{"b" => %{"c" => [1, 2, %{"d" => {3, 4}}]}},
        {0, 0} => %{1 => [%{}]}
      }

      assert roundtrip(nested) == {:ok, nested}

      assert eval("{'x': {'y': {'z': (1, [2])}}}") ==
               {:ok, %{"x" => %{"y" => %{"z" => {1, [2]}}}}}
    end

    test "atom keys become str keys" do
      assert roundtrip(%{a: 1, b: %{c: 2}}) == {:ok, %{"a" => 1, "b" => %{"c" => 2}}}
    end
  end

  describe "sets" do
    test "MapSet becomes set and comes back" do
      set = MapSet.new([1, "a", {2, 3}])
      assert type_name(set) == "set"
      assert type_name(MapSet.new()) == "set"
      assert roundtrip(set) == {:ok, set}
      assert SnakeBridge.call("builtins", "len", [set]) == {:ok, 3}
      assert eval("{1, 2, 3}") == {:ok, MapSet.new([1, 2, 3])}
      assert eval("set()") == {:ok, MapSet.new()}
    end

    test "Python frozenset becomes MapSet" do
      assert eval("frozenset([1, 2])") == {:ok, MapSet.new([1, 2])}
      assert eval("frozenset()") == {:ok, MapSet.new()}
    end

    test "a MapSet inside a dict key or a set becomes frozenset" do
      key = MapSet.new([1, 2])
      map = %{key => "v"}
      assert SnakeBridge.call!(@lib, "key_type_names", [map]) == ["frozenset"]
      assert roundtrip(map) == {:ok, map}

      nested = MapSet.new([MapSet.new(["x"]), 1])
      assert type_name(nested) == "set"
      assert SnakeBridge.call!(@lib, "member_type_names", [nested]) == ["frozenset", "int"]
      assert roundtrip(nested) == {:ok, nested}

      assert eval("{frozenset({1}): {frozenset({2})}}") ==
               {:ok, %{MapSet.new([1]) => MapSet.new([MapSet.new([2])])}}
    end
  end

  describe "refs sent back" do
    test "a StreamRef is the iterator it holds" do
      {:ok, it} = SnakeBridge.call("builtins", "iter", [[10, 20, 30]])
      assert SnakeBridge.call("builtins", "next", [it]) == {:ok, 10}
      assert SnakeBridge.Runtime.stream_next(it) == {:ok, 20}
      assert SnakeBridge.call("builtins", "list", [it]) == {:ok, [30]}
    end

    test "a Ref is the object it holds" do
      {:ok, r} = SnakeBridge.call("builtins", "range", [3])
      assert describe(r) == {"range", "range(0, 3)"}
      assert describe([r]) == {"list", "[range(0, 3)]"}
    end
  end

  describe "atoms" do
    test "other atoms become str" do
      assert describe(:hello) == {"str", "'hello'"}
      assert describe(:"with space") == {"str", "'with space'"}
      assert describe(Elixir.Foo) == {"str", "'Elixir.Foo'"}
      assert roundtrip(:hello) == {:ok, "hello"}
      assert SnakeBridge.call("builtins", "str.upper", [:abc]) == {:ok, "ABC"}
    end
  end

  describe "keyword options" do
    test "become Python kwargs" do
      assert py("args_and_kwargs", [1, "two"], a: 1, b: "x", c: [nil]) ==
               {:ok, %{"args" => [1, "two"], "kwargs" => %{"a" => 1, "b" => "x", "c" => [nil]}}}

      assert SnakeBridge.call("builtins", "sorted", [[3, 1, 2]], reverse: true) ==
               {:ok, [3, 2, 1]}

      assert SnakeBridge.call("builtins", "int", ["ff"], base: 16) == {:ok, 255}
    end

    test "__runtime__ is not passed to Python" do
      assert py("args_and_kwargs", [], x: 1, __runtime__: [timeout: 5_000]) ==
               {:ok, %{"args" => [], "kwargs" => %{"x" => 1}}}
    end

    test "a keyword list as an argument stays a list of tuples" do
      assert roundtrip(a: 1, b: 2) == {:ok, [{"a", 1}, {"b", 2}]}
    end
  end

  test "large dicts and sets convert (built off the BEAM's own threads)" do
    for n <- [33, 200, 5_000, 100_000] do
      {:ok, dict} = SnakeBridge.call("builtins", "eval", ["{str(i): i for i in range(#{n})}"])
      assert map_size(dict) == n
      assert dict["#{n - 1}"] == n - 1
      {:ok, set} = SnakeBridge.call("builtins", "eval", ["set(range(#{n}))"])
      assert MapSet.size(set) == n
      assert MapSet.member?(set, n - 1)
    end

    {:ok, it} = SnakeBridge.call("builtins", "eval", ["iter([{i: i for i in range(500)}])"])
    assert [%{499 => 499}] = Enum.to_list(it)
  end

  test "nested containers of every kind round-trip" do
    term = %{
      "list" => [1, -2, 3.5, nil, true, "s", <<255>>, {}],
      "tuple" => {1, {2, "3"}, %{"k" => MapSet.new([1])}},
      42 => [%{"deep" => [[[Integer.pow(10, 30)]]]}],
      {1, 2} => MapSet.new([{1, "a"}, MapSet.new([:nan])]),
      "floats" => [:infinity, :neg_infinity, 0.1]
    }

    assert {:ok, back} = roundtrip(term)
    # :nan != :nan is not an issue for atoms: equality holds.
    assert back == term
  end

  describe "terms with no Python value" do
    setup do
      %{tag: "conv-#{System.unique_integer([:positive])}"}
    end

    defp assert_not_converted(tag, args, opts, term, path) do
      assert {:error, %ConversionError{} = error} = py("bump", [tag | args], opts)
      assert error.term === term
      assert error.path == path
      # The message names the term and where it sat.
      assert Exception.message(error) =~ inspect(term)
      # Python was never called.
      assert SnakeBridge.call!(@lib, "count", [tag]) == 0
    end

    test "a port", %{tag: tag} do
      port = Port.open({:spawn, "cat"}, [])

      try do
        assert_not_converted(tag, [port], [], port, [{:arg, 1}])
      after
        Port.close(port)
      end
    end

    test "a reference", %{tag: tag} do
      ref = make_ref()
      assert_not_converted(tag, [ref], [], ref, [{:arg, 1}])
    end

    test "an unknown struct", %{tag: tag} do
      uri = URI.parse("https://example.com")
      assert_not_converted(tag, [uri], [], uri, [{:arg, 1}])
      assert_not_converted(tag, [1..3], [], 1..3, [{:arg, 1}])
    end

    test "nested inside a list, a tuple and a map", %{tag: tag} do
      pid = make_ref()
      assert_not_converted(tag, [[1, 2, pid]], [], pid, [{:arg, 1}, {:index, 2}])
      assert_not_converted(tag, [{:a, [0, pid]}], [], pid, [{:arg, 1}, {:index, 1}, {:index, 1}])

      assert_not_converted(tag, [%{"a" => %{"b" => pid}}], [], pid, [
        {:arg, 1},
        {:key, "a"},
        {:key, "b"}
      ])

      error = %ConversionError{term: pid, path: [{:arg, 1}, {:key, "a"}]}
      assert Exception.message(error) =~ ~s(args[1]["a"])
    end

    # BUG (native/snakebridge_nif/src/convert.rs, to_py, TermType::List): rustler's
    # ListIterator panics on the improper tail ("list iterator found improper list")
    # before the list_length() check runs, so the call raises :nif_panicked.
    test "an improper list", %{tag: tag} do
      improper = [1, 2 | 3]
      assert_not_converted(tag, [improper], [], improper, [{:arg, 1}])
    end

    test "inside a MapSet", %{tag: tag} do
      ref = make_ref()
      assert_not_converted(tag, [MapSet.new([ref])], [], ref, [{:arg, 1}, :element])
    end

    test "in a keyword argument", %{tag: tag} do
      ref = make_ref()
      assert_not_converted(tag, [], [ok: 1, bad: [ref]], ref, [{:kwarg, :bad}, {:index, 0}])
    end

    test "a later argument is checked before Python runs", %{tag: tag} do
      # the first arguments are fine; the last is not: nothing runs at all
      assert {:error, %ConversionError{path: [{:arg, 3}]}} =
               py("bump", [tag, 1, "two", make_ref()])

      assert SnakeBridge.call!(@lib, "count", [tag]) == 0
      # and a good call on the same tag does run
      assert py("bump", [tag, 1]) == {:ok, 1}
      assert SnakeBridge.call!(@lib, "count", [tag]) == 1
    end
  end
end
