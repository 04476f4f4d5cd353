defmodule SnakeBridge.ScienceTest do
  # Data values with real numpy and pandas (a venv made once: test/support/science.ex):
  # missing values, numpy times, complex numbers, %SnakeBridge.Array{} both ways, and
  # the ~PY sigil.
  use ExUnit.Case, async: false

  import SnakeBridge.TestHelpers, only: [eventually: 2]

  import SnakeBridge.Sigil

  alias SnakeBridge.{Array, Complex, ConversionError, PythonError, Ref}

  @missing SnakeBridge.Science.missing()
  if @missing, do: @moduletag(skip: @missing)

  @kib 1024

  defp py(code, globals \\ %{}, runtime \\ []) do
    g = Map.merge(%{"np" => mod("numpy"), "pd" => mod("pandas")}, globals)
    SnakeBridge.eval(code, g, __runtime__: runtime)
  end

  defp mod(name), do: SnakeBridge.call!("importlib", "import_module", [name])

  describe "missing values" do
    test "NaT and NA are nil, alone and inside containers" do
      assert py("pd.NaT") == {:ok, nil}
      assert py("pd.NA") == {:ok, nil}
      assert py("np.datetime64('NaT')") == {:ok, nil}
      assert py("np.timedelta64('NaT')") == {:ok, nil}

      assert py("[pd.NaT, (pd.NA, 1), {'k': pd.NaT, pd.NA: 2}]") ==
               {:ok, [nil, {nil, 1}, %{"k" => nil, nil => 2}]}

      # The issue's case: one missing date failed the whole result.
      assert py("pd.to_datetime(['2024-01-01', None]).to_list()") ==
               {:ok, [~N[2024-01-01 00:00:00], nil]}

      assert py("pd.Series([1, None], dtype='Int64').to_list()") == {:ok, [1, nil]}
    end

    test "to_dict records of a frame with NaT, NA and NaN" do
      code = """
      pd.DataFrame({
          'when': pd.to_datetime(['2024-01-01 10:00', None]),
          'n': pd.array([1, None], dtype='Int64'),
          'x': [0.5, None],
          'name': ['a', None],
      }).to_dict(orient='records')
      """

      assert py(code) ==
               {:ok,
                [
                  %{"when" => ~N[2024-01-01 10:00:00], "n" => 1, "x" => 0.5, "name" => "a"},
                  # pandas 3's string dtype holds a missing str as NaN.
                  %{"when" => nil, "n" => nil, "x" => :nan, "name" => :nan}
                ]}
    end
  end

  describe "numpy datetime64 and timedelta64" do
    test "datetime64 -> NaiveDateTime (precision as a datetime's), finer units floored" do
      assert py("np.datetime64('2024-01-02T03:04:05', 's')") == {:ok, ~N[2024-01-02 03:04:05]}

      assert py("np.datetime64('2024-01-02T03:04:05.120', 'ms')") ==
               {:ok, ~N[2024-01-02 03:04:05.120000]}

      assert py("np.datetime64('2024-01-02T03:04:05.123456', 'us')") ==
               {:ok, ~N[2024-01-02 03:04:05.123456]}

      assert py("np.datetime64('2024-01-02T03:04:05.123456789', 'ns')") ==
               {:ok, ~N[2024-01-02 03:04:05.123456]}

      # Floored, also before 1970.
      assert py("np.datetime64('1969-12-31T23:59:59.999999999', 'ns')") ==
               {:ok, ~N[1969-12-31 23:59:59.999999]}

      assert py("np.datetime64('2024-02-29', 'D')") == {:ok, ~N[2024-02-29 00:00:00]}
      assert py("np.datetime64('2024-03', 'M')") == {:ok, ~N[2024-03-01 00:00:00]}
      assert py("np.datetime64('1900', 'Y')") == {:ok, ~N[1900-01-01 00:00:00]}
      assert py("np.datetime64('0001-01-01T00:00', 'm')") == {:ok, ~N[0001-01-01 00:00:00]}

      # What equals Python's own conversion where it has one.
      {:ok, expected} = py("np.datetime64('2262-04-11T23:47:16.854775', 'us').item()")
      assert py("np.datetime64('2262-04-11T23:47:16.854775', 'us')") == {:ok, expected}

      # Scalars taken from an array.
      assert py("pd.to_datetime(['2024-05-06 07:08:09']).values[0]") ==
               {:ok, ~N[2024-05-06 07:08:09]}
    end

    test "timedelta64 -> microseconds (floored); calendar units stay Refs" do
      assert py("np.timedelta64(3, 'D')") == {:ok, 3 * 86_400_000_000}
      assert py("np.timedelta64(1500, 'ns')") == {:ok, 1}
      assert py("np.timedelta64(-1, 'ns')") == {:ok, -1}
      assert py("np.timedelta64(7, 'ms')") == {:ok, 7000}
      assert py("pd.Timedelta('1 days 00:00:01')") == {:ok, 86_401_000_000}
      assert {:ok, %Ref{type_name: "timedelta64"}} = py("np.timedelta64(1, 'Y')")
    end
  end

  describe "complex numbers" do
    test "Python and numpy complex -> %SnakeBridge.Complex{}, and back" do
      assert py("complex(1.5, -2)") == {:ok, %Complex{re: 1.5, im: -2.0}}
      assert py("np.complex64(1 + 2j)") == {:ok, %Complex{re: 1.0, im: 2.0}}
      assert py("np.complex128(complex('inf-nanj'))") == {:ok, %Complex{re: :infinity, im: :nan}}

      for z <- [Complex.new(0, 1), Complex.new(-2.5, 1.0e300), Complex.new(:neg_infinity, :nan)] do
        assert SnakeBridge.call("sb_foundation", "identity", [z]) == {:ok, z}
        assert py("type(z) is complex", %{"z" => z}) == {:ok, true}
      end

      # The complex package's struct (Nx's) is sent the same way.
      assert py("z * 2", %{"z" => %{__struct__: Complex, re: 1.0, im: 2.0}}) ==
               {:ok, %Complex{re: 2.0, im: 4.0}}

      assert {:error, %ConversionError{}} = py("z", %{"z" => %Complex{re: "1", im: 0.0}})
    end
  end

  # numpy dtype name -> (Nx type, Python expression of values of that dtype).
  @dtypes [
    {"int8", {:s, 8}},
    {"int16", {:s, 16}},
    {"int32", {:s, 32}},
    {"int64", {:s, 64}},
    {"uint8", {:u, 8}},
    {"uint16", {:u, 16}},
    {"uint32", {:u, 32}},
    {"uint64", {:u, 64}},
    {"float16", {:f, 16}},
    {"float32", {:f, 32}},
    {"float64", {:f, 64}},
    {"complex64", {:c, 64}},
    {"complex128", {:c, 128}},
    {"bool", {:u, 8}}
  ]

  @shapes [{}, {5}, {2, 3}, {2, 3, 4}]

  describe "%SnakeBridge.Array{}" do
    test "every numeric dtype, ranks 0 to 3: to an Array and back, equal" do
      for {dtype, type} <- @dtypes, shape <- @shapes do
        code = """
        (np.arange(int(np.prod(s))) * 37 % 11 - 3).astype(d if d != 'bool' else 'int64').reshape(s)
        """

        make =
          "(lambda a: a.astype('bool') if d == 'bool' else a.astype(d))(" <>
            String.trim(code) <> ")"

        g = %{"d" => dtype, "s" => shape}
        {:ok, ref} = py(make, g)
        {:ok, array} = Array.from_ref(ref)
        label = "#{dtype} #{inspect(shape)}"

        assert array.type == type, label
        assert array.shape == shape, label
        assert array.data == Ref.method!(ref, "tobytes"), label
        # to_list/1 agrees with numpy's tolist() (bool: 0/1).
        {:ok, expected} =
          py("(a.astype('uint8') if a.dtype == bool else a).tolist()", %{"a" => ref})

        assert Array.to_list(array) == expected, label

        # Back: a read-only numpy array equal to the original, of the Array's dtype.
        {:ok, back} =
          py(
            "(b.dtype.name, b.shape, bool(np.array_equal(b, a)), b.flags.writeable)",
            %{"a" => ref, "b" => array}
          )

        expected_dtype = if dtype == "bool", do: "uint8", else: dtype
        assert back == {expected_dtype, shape, true, false}, label
      end
    end

    test "a non-contiguous slice and a transposed array are copied into C order" do
      {:ok, sliced} = py("np.arange(24.0).reshape(4, 6)[::2, 1::2]")
      assert {:ok, a} = Array.from_ref(sliced)
      assert a.shape == {2, 3} and a.type == {:f, 64}
      assert Array.to_list(a) == [[1.0, 3.0, 5.0], [13.0, 15.0, 17.0]]

      {:ok, t} = py("np.arange(6, dtype='int32').reshape(2, 3).T")
      assert Array.to_list(Array.from_ref!(t)) == [[0, 3], [1, 4], [2, 5]]

      # Big-endian data is swapped to this machine's order.
      {:ok, be} = py("np.arange(3, dtype='>f8')")
      assert Array.to_list(Array.from_ref!(be)) == [0.0, 1.0, 2.0]
    end

    test "array.array and memoryview; objects without a numeric buffer are errors" do
      {:ok, aa} = SnakeBridge.call("array", "array", ["d", [1.5, -2.0]])

      assert Array.from_ref!(aa) ==
               Array.new(<<1.5::float-64-native, -2.0::float-64-native>>, {:f, 64}, {2})

      {:ok, mv} = py("memoryview(bytes(range(6))).cast('B', (2, 3))")
      assert Array.from_ref!(mv) == Array.new(<<0, 1, 2, 3, 4, 5>>, {:u, 8}, {2, 3})

      assert {:error, %PythonError{type: "TypeError"}} =
               Array.from_ref(SnakeBridge.call!("fractions", "Fraction", [1, 2]))

      # numpy cannot export datetime64 or object arrays.
      assert {:error, %PythonError{}} =
               Array.from_ref(elem(py("np.array(['2024-01-01'], dtype='M8[D]')"), 1))

      assert {:error, %PythonError{}} = Array.from_ref(elem(py("np.array([None])"), 1))
    end

    test "__runtime__: [arrays: true]: arrays at any depth; other values unchanged" do
      code =
        "{'a': np.arange(3), 'rows': [np.zeros((2, 2), 'float32')], 's': np.int64(5), 'r': range(2)}"

      {:ok, %{"a" => a, "rows" => [z], "s" => 5, "r" => %Ref{}}} = py(code, %{}, arrays: true)
      assert Array.to_list(a) == [0, 1, 2]
      assert z == Array.new(<<0::size(128)>>, {:f, 32}, {2, 2})

      # Without it, an array is a Ref; objects whose buffer is no number stay Refs.
      assert {:ok, %Ref{}} = py("np.arange(3)")
      assert {:ok, [%Ref{}]} = py("[np.array([None])]", %{}, arrays: true)

      # On a method, and for the items of a stream the call returns.
      {:ok, frame} = py("pd.DataFrame({'x': [1.5, 2.5]})")

      assert {:ok, %Array{type: {:f, 64}, shape: {2, 1}}} =
               Ref.method(frame, "to_numpy", [], __runtime__: [arrays: true])

      {:ok, gen} = py("(np.full(2, i) for i in range(3))", %{}, arrays: true)
      assert Enum.map(gen, &Array.to_list/1) == [[0, 0], [1, 1], [2, 2]]

      # stream/5 delivers its items as Arrays too.
      :ok =
        SnakeBridge.stream("numpy", "eye", [2], [__runtime__: [arrays: true]], fn row ->
          send(self(), {:row, row})
          :ok
        end)

      rows = for _ <- 1..2, do: receive(do: ({:row, r} -> Array.to_list(r)))
      assert rows == [[1.0, 0.0], [0.0, 1.0]]

      assert_raise ArgumentError, ~r/arrays/, fn ->
        SnakeBridge.call("math", "pi", [], __runtime__: [arrays: 1])
      end
    end

    test "an Array argument: bad ones are refused before Python runs" do
      bad = %Array{data: <<1, 2, 3>>, type: {:s, 16}, shape: {2}}

      assert {:error, %ConversionError{path: [{:arg, 0}]}} =
               SnakeBridge.call("builtins", "len", [bad])

      bf16 = %Array{data: <<0, 0>>, type: {:bf, 16}, shape: {1}}
      assert {:error, %ConversionError{}} = SnakeBridge.call("builtins", "len", [bf16])

      assert_raise ArgumentError, ~r/bytes are not/, fn ->
        Array.new(<<1, 2, 3>>, {:s, 16}, {2})
      end

      assert_raise ArgumentError, ~r/not an Array type/, fn -> Array.new(<<>>, {:bf, 16}, {0}) end
    end

    test "above 64 KiB: shared both ways, contents equal" do
      for n <- [div(64 * @kib, 8) - 1, div(64 * @kib, 8), 1_000_003] do
        {:ok, ref} = py("np.random.default_rng(7).random(n)", %{"n" => n})
        array = Array.from_ref!(ref)
        assert array.data == Ref.method!(ref, "tobytes")

        # Back in Python: equal, and from 64 KiB on, the very memory of the original.
        {:ok, {equal, shared}} =
          py("(bool(np.array_equal(a, b)), bool(np.shares_memory(a, b)))", %{
            "a" => ref,
            "b" => array
          })

        assert equal
        assert shared == n * 8 >= 64 * @kib

        # An Elixir-made binary: Python reads the same bytes.
        data = :crypto.strong_rand_bytes(n * 8)

        {:ok, digest} =
          py("__import__('hashlib').sha256(b.tobytes()).digest()", %{
            "b" => Array.new(data, {:u, 64}, {n})
          })

        assert digest == :crypto.hash(:sha256, data)
      end
    end

    test "without numpy: an Array argument is a read-only memoryview of its format and shape" do
      # In a VM of its own, whose Python has no numpy (the base interpreter has none).
      ebin = Path.join(Mix.Project.build_path(), "lib/snakebridge/ebin")

      script = ~S"""
      {:ok, _} = Application.ensure_all_started(:snakebridge)
      small = SnakeBridge.Array.new(<<1::16-native, 2::16-native, 3::16-native, 4::16-native>>, {:u, 16}, {2, 2})
      big = SnakeBridge.Array.new(:binary.copy(<<2.5::float-64-native>>, 9000), {:f, 64}, {3, 3000})
      code = "(type(m).__name__, m.format, m.shape, m.readonly, m.tolist() if m.format != 'd' else m[2, 2999])"
      IO.inspect(SnakeBridge.eval(code, %{"m" => small}))
      IO.inspect(SnakeBridge.eval(code, %{"m" => big}))
      {:ok, back} = SnakeBridge.call("builtins", "memoryview", [big], __runtime__: [arrays: true])
      IO.inspect({back == big, SnakeBridge.call!("importlib.util", "find_spec", ["numpy"])})
      """

      {out, status} =
        System.cmd(System.find_executable("elixir"), ["-pa", ebin, "-e", script],
          stderr_to_stdout: true
        )

      assert status == 0, out
      assert out =~ ~s({:ok, {"memoryview", "H", {2, 2}, true, [[1, 2], [3, 4]]}}), out
      assert out =~ ~s({:ok, {"memoryview", "d", {3, 3000}, true, 2.5}}), out
      assert out =~ ~s({true, nil}), out
    end

    test "a 100 MB float64 array to an Array in under 1 ms, freed when the binary is collected" do
      rss = fn ->
        File.read!("/proc/self/statm")
        |> String.split()
        |> Enum.at(1)
        |> String.to_integer()
        |> Kernel.*(4096)
      end

      n = 12_500_000
      before = rss.()
      # Made in Python and held only by the Array's binary.
      {:ok, %Array{data: data}} =
        SnakeBridge.call("numpy", "ones", [n], __runtime__: [arrays: true])

      assert byte_size(data) == n * 8
      held = rss.()
      assert held - before > 90_000_000, "RSS grew by #{held - before} bytes"

      {:ok, ref} = SnakeBridge.call("numpy", "ones", [n])
      times = for _ <- 1..5, do: elem(:timer.tc(fn -> {:ok, _} = Array.from_ref(ref) end), 0)

      IO.puts(
        "\n[measure] 100 MB float64 array to an Array: #{inspect(Enum.sort(times))} µs (best first)"
      )

      assert Enum.min(times) < 1000

      # The binary is dropped (the test process's last reference): numpy's 100 MB go.
      data = nil
      _ = data

      assert eventually(fn -> rss.() < held - 90_000_000 end, gc: true, timeout: 10_000),
             "RSS #{rss.()} did not drop below #{held - 90_000_000}"
    end
  end

  describe "the README's Data science section" do
    @tag :tmp_dir
    test "read a CSV, group, columns as Arrays, train a model", %{tmp_dir: dir} do
      path = Path.join(dir, "sales.csv")

      File.write!(path, """
      day,region,amount,units
      2024-01-02,north,20.5,4
      ,south,12.0,2
      2024-01-04,north,10.0,2
      2024-01-05,south,30.0,6
      """)

      # As in the README, with ~P for Elixir 1.14.
      ~P"""
      import pandas as pd
      df = pd.read_csv(path, parse_dates=["day"])
      totals = df.groupby("region")["amount"].sum().to_dict()
      rows = df.head(2).to_dict(orient="records")
      """

      assert totals == %{"north" => 30.5, "south" => 42.0}

      assert rows == [
               %{
                 "day" => ~N[2024-01-02 00:00:00],
                 "region" => "north",
                 "amount" => 20.5,
                 "units" => 4
               },
               %{"day" => nil, "region" => "south", "amount" => 12.0, "units" => 2}
             ]

      {:ok, amount} = Ref.method(df, "__getitem__", ["amount"])
      a = Ref.method!(amount, "to_numpy", [], __runtime__: [arrays: true])
      assert %Array{type: {:f, 64}, shape: {4}} = a
      assert Array.to_list(a) == [20.5, 12.0, 10.0, 30.0]

      ~P"""
      from sklearn.linear_model import LinearRegression
      model = LinearRegression().fit(df[["units"]].to_numpy(), df["amount"])
      """

      units = Array.new(<<3::64-signed-native, 5::64-signed-native>>, {:s, 64}, {2, 1})
      [p3, p5] = ~P"model.predict(units).tolist()"

      [coef] = model |> Ref.getattr!("coef_") |> Array.from_ref!() |> Array.to_list()
      assert_in_delta p5 - p3, 2 * coef, 1.0e-9
    end
  end
end
