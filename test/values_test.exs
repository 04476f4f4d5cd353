defmodule SnakeBridge.ValuesTest do
  # The Values rows beyond the builtins, both ways, against the embedded Python.
  use ExUnit.Case, async: true

  alias SnakeBridge.ConversionError
  alias SnakeBridge.ValuesTest.{Celsius, Loop, NoEncoder, Point}

  doctest SnakeBridge.Bytes
  doctest SnakeBridge.Decimal
  doctest SnakeBridge.Encoder
  doctest SnakeBridge.ConversionError
  doctest SnakeBridge.Array

  @lib "sb_values"

  # numpy comes from the tests' venv (test/support/science.ex); its tests are skipped
  # with this message when it cannot be installed.
  @numpy_missing SnakeBridge.Science.missing()

  defp describe(term), do: SnakeBridge.call!(@lib, "describe", [term])
  defp roundtrip(term), do: SnakeBridge.call("sb_foundation", "identity", [term])

  defp eval_with(imports, expr) do
    globals = Map.new(imports, &{&1, SnakeBridge.call!("importlib", "import_module", [&1])})
    SnakeBridge.call("builtins", "eval", [expr, globals])
  end

  describe "datetime.datetime <-> NaiveDateTime (naive)" do
    test "Python to Elixir, to the microsecond" do
      assert eval_with(["datetime"], "datetime.datetime(2024, 1, 2, 3, 4, 5, 123456)") ==
               {:ok, ~N[2024-01-02 03:04:05.123456]}

      assert eval_with(["datetime"], "datetime.datetime(1, 1, 1, 0, 0, 0, 1)") ==
               {:ok, ~N[0001-01-01 00:00:00.000001]}

      # No microseconds: precision 0, so a literal without them compares equal.
      assert eval_with(["datetime"], "datetime.datetime(9999, 12, 31, 23, 59, 59)") ==
               {:ok, ~N[9999-12-31 23:59:59]}
    end

    test "Elixir to Python" do
      assert describe(~N[2024-02-29 01:02:03.000001]) ==
               {"datetime.datetime", "datetime.datetime(2024, 2, 29, 1, 2, 3, 1)"}

      assert describe(~N[2024-02-29 01:02:03.5]) ==
               {"datetime.datetime", "datetime.datetime(2024, 2, 29, 1, 2, 3, 500000)"}
    end

    test "round trip" do
      for n <- [
            ~N[2024-01-02 03:04:05.123456],
            ~N[2000-01-01 00:00:00],
            ~N[1970-06-30 12:00:00.000001]
          ],
          do: assert(roundtrip(n) == {:ok, n})
    end

    test "a value Python cannot hold is a ConversionError (Python is not called)" do
      year0 = %{~N[2024-01-01 00:00:00] | year: 0}

      assert {:error, %ConversionError{term: ^year0, path: [{:arg, 0}]}} =
               SnakeBridge.call("builtins", "repr", [year0])

      other_calendar = %{~N[2024-01-01 00:00:00] | calendar: :not_iso}
      assert {:error, %ConversionError{}} = SnakeBridge.call("builtins", "repr", [other_calendar])
    end
  end

  describe "datetime.datetime <-> DateTime (aware, as UTC)" do
    test "Python to Elixir: an aware datetime comes back as the same instant in UTC" do
      assert SnakeBridge.call(@lib, "aware", [0]) == {:ok, ~U[2024-03-10 12:30:15.000250Z]}
      assert SnakeBridge.call(@lib, "aware", [330]) == {:ok, ~U[2024-03-10 07:00:15.000250Z]}
      assert SnakeBridge.call(@lib, "aware", [-60]) == {:ok, ~U[2024-03-10 13:30:15.000250Z]}
    end

    test "an aware datetime whose UTC instant is before year 1 is an OverflowError" do
      assert {:error, %SnakeBridge.PythonError{type: "OverflowError"}} =
               eval_with(
                 ["datetime"],
                 "datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))"
               )
    end

    test "a datetime subclass (as pandas' Timestamp) converts too" do
      assert SnakeBridge.call(@lib, "stamp_utc", [2024, 5, 6, 7, 8, 9, 10]) ==
               {:ok, ~U[2024-05-06 07:08:09.000010Z]}
    end

    test "Elixir to Python: UTC, and another offset kept as a fixed offset" do
      assert describe(~U[2024-03-10 12:30:15.000250Z]) ==
               {"datetime.datetime",
                "datetime.datetime(2024, 3, 10, 12, 30, 15, 250, tzinfo=datetime.timezone.utc)"}

      # Elixir 1.14 has no tz database here: a struct with an offset, as a library makes.
      paris = %DateTime{
        year: 2024,
        month: 7,
        day: 1,
        hour: 14,
        minute: 0,
        second: 0,
        microsecond: {5, 6},
        time_zone: "Europe/Paris",
        zone_abbr: "CEST",
        utc_offset: 3600,
        std_offset: 3600
      }

      assert SnakeBridge.call(@lib, "utc_offset_seconds", [paris]) == {:ok, 7200}

      assert SnakeBridge.call(@lib, "same_instant", [paris, "2024-07-01T12:00:00.000005+00:00"]) ==
               {:ok, true}

      # Back in Elixir: the same instant, in UTC.
      assert {:ok, utc} = roundtrip(paris)
      assert utc == ~U[2024-07-01 12:00:00.000005Z]
      assert DateTime.compare(utc, paris) == :eq
    end

    test "round trip of UTC DateTimes" do
      for dt <- [~U[2024-03-10 12:30:15.123456Z], ~U[2024-03-10 12:30:15Z]],
          do: assert(roundtrip(dt) == {:ok, dt})

      now = DateTime.utc_now()
      {:ok, back} = roundtrip(now)
      assert DateTime.compare(back, now) == :eq
    end

    test "an offset Python refuses (a day or more) is a ConversionError" do
      odd = %{~U[2024-01-01 00:00:00Z] | utc_offset: 86_400, time_zone: "Odd/Zone"}
      assert {:error, %ConversionError{term: ^odd}} = SnakeBridge.call("builtins", "repr", [odd])
    end
  end

  describe "datetime.date <-> Date" do
    test "Python to Elixir (subclasses too)" do
      assert eval_with(["datetime"], "datetime.date(2024, 2, 29)") == {:ok, ~D[2024-02-29]}
      assert SnakeBridge.call(@lib, "week", [2023, 12, 31]) == {:ok, ~D[2023-12-31]}
    end

    test "Elixir to Python" do
      assert describe(~D[2024-02-29]) == {"datetime.date", "datetime.date(2024, 2, 29)"}

      assert SnakeBridge.call("operator", "sub", [~D[2024-03-01], ~D[2024-02-28]]) ==
               {:ok, 2 * 86_400_000_000}
    end

    test "round trip, also as a dict key and a set member" do
      assert roundtrip(~D[0001-01-01]) == {:ok, ~D[0001-01-01]}
      assert roundtrip(%{~D[2024-01-01] => 1}) == {:ok, %{~D[2024-01-01] => 1}}
      assert roundtrip(MapSet.new([~D[2024-01-01]])) == {:ok, MapSet.new([~D[2024-01-01]])}
    end

    test "a date that does not exist is a ConversionError" do
      bad = %{~D[2024-02-28] | day: 31}
      assert {:error, %ConversionError{term: ^bad}} = SnakeBridge.call("builtins", "repr", [bad])

      assert {:error, %ConversionError{}} =
               SnakeBridge.call("builtins", "repr", [%{~D[2024-01-01] | year: -1}])
    end
  end

  describe "datetime.time <-> Time" do
    test "Python to Elixir" do
      assert eval_with(["datetime"], "datetime.time(12, 30)") == {:ok, ~T[12:30:00]}

      assert eval_with(["datetime"], "datetime.time(23, 59, 59, 999999)") ==
               {:ok, ~T[23:59:59.999999]}
    end

    test "an aware time (Elixir's Time has no offset) stays a Ref" do
      assert {:ok, %SnakeBridge.Ref{} = ref} =
               eval_with(["datetime"], "datetime.time(1, 2, tzinfo=datetime.timezone.utc)")

      assert SnakeBridge.Ref.repr(ref) == "datetime.time(1, 2, tzinfo=datetime.timezone.utc)"
    end

    test "Elixir to Python, and round trip" do
      assert describe(~T[01:02:03.000004]) == {"datetime.time", "datetime.time(1, 2, 3, 4)"}
      for t <- [~T[00:00:00], ~T[12:34:56.789012]], do: assert(roundtrip(t) == {:ok, t})
    end

    test "a precision under 6 digits comes back as 6 digits (compare with Time.compare/2)" do
      {:ok, back} = roundtrip(~T[12:00:00.120])
      assert back.microsecond == {120_000, 6}
      assert Time.compare(back, ~T[12:00:00.120]) == :eq
    end
  end

  describe "datetime.timedelta -> microseconds" do
    test "Python to Elixir: an integer number of microseconds" do
      assert eval_with(["datetime"], "datetime.timedelta(days=1, seconds=2, microseconds=3)") ==
               {:ok, 86_402_000_003}

      assert eval_with(["datetime"], "datetime.timedelta(microseconds=-1)") == {:ok, -1}
      assert eval_with(["datetime"], "datetime.timedelta(0)") == {:ok, 0}
      # timedelta.max is beyond 64 bits of microseconds.
      assert eval_with(["datetime"], "datetime.timedelta.max") ==
               {:ok, 999_999_999 * 86_400_000_000 + 86_399_999_999}
    end

    test "Elixir to Python: an integer, which timedelta(microseconds=n) takes back exactly" do
      us = 999_999_999 * 86_400_000_000 + 86_399_999_999

      assert SnakeBridge.call("datetime", "timedelta", [], microseconds: us) == {:ok, us}

      assert SnakeBridge.call("operator", "eq", [
               SnakeBridge.call!("datetime", "timedelta", [], microseconds: -5),
               -5
             ]) == {:ok, true}
    end
  end

  describe "decimal.Decimal <-> %SnakeBridge.Decimal{}" do
    @texts ["1.10", "-0", "0E-7", "1E+3", "-123456789012345678901234567890.5", "NaN", "-Infinity"]

    test "Python to Elixir: str(d)" do
      for text <- @texts do
        assert SnakeBridge.call("decimal", "Decimal", [text]) ==
                 {:ok, %SnakeBridge.Decimal{value: text}}
      end
    end

    test "Elixir to Python: Decimal(value), every digit and the exponent kept" do
      for text <- @texts do
        d = %SnakeBridge.Decimal{value: text}
        assert SnakeBridge.call(@lib, "decimal_equal", [d, text]) == {:ok, true}
        assert roundtrip(d) == {:ok, d}
      end

      assert {"decimal.Decimal", "Decimal('1.10')"} =
               describe(%SnakeBridge.Decimal{value: "1.10"})
    end

    test "a value Decimal does not parse is a ConversionError" do
      bad = %SnakeBridge.Decimal{value: "one"}
      assert {:error, %ConversionError{term: ^bad}} = roundtrip(bad)
      assert {:error, %ConversionError{}} = roundtrip(%SnakeBridge.Decimal{value: 1})
    end
  end

  describe "uuid.UUID -> string" do
    test "Python to Elixir: the hyphenated lowercase form" do
      assert SnakeBridge.call("uuid", "UUID", ["{12345678-1234-5678-1234-567812345678}"]) ==
               {:ok, "12345678-1234-5678-1234-567812345678"}

      {:ok, s} = SnakeBridge.call("uuid", "uuid4", [])
      assert s =~ ~r/\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\z/
    end

    test "Elixir to Python: a str, which uuid.UUID takes back" do
      s = "12345678-1234-5678-1234-567812345678"
      assert {:ok, ^s} = SnakeBridge.call(@lib, "uuid_of", [s])
      assert describe(s) == {"builtins.str", inspect(s) |> String.replace("\"", "'")}
    end
  end

  describe "in streams" do
    test "StreamRef items and stream/5 chunks convert the same way" do
      expected = [
        ~D[2024-01-30],
        ~D[2024-01-31],
        ~D[2024-02-01],
        %SnakeBridge.Decimal{value: "0.5"},
        "00000000-0000-0000-0000-000000000001"
      ]

      {:ok, stream} = SnakeBridge.call(@lib, "days", [3])
      assert Enum.to_list(stream) == expected

      {:ok, batched} = SnakeBridge.call(@lib, "days", [3], __runtime__: [stream_batch: 2])
      assert Enum.to_list(batched) == expected

      me = self()
      callback = fn x -> send(me, {:item, x}) && :ok end
      assert :ok = SnakeBridge.stream(@lib, "days", [3], [], callback)
      assert for(_ <- expected, do: receive(do: ({:item, x} -> x))) == expected
    end
  end

  describe "SnakeBridge.bytes/1 -> bytes" do
    test "Elixir to Python: bytes even when the binary is valid UTF-8" do
      assert describe(SnakeBridge.bytes("abc")) == {"builtins.bytes", "b'abc'"}
      assert describe("abc") == {"builtins.str", "'abc'"}
      assert describe(SnakeBridge.bytes("")) == {"builtins.bytes", "b''"}

      {:ok, hash} = SnakeBridge.call("hashlib", "sha256", [SnakeBridge.bytes("abc")])

      assert SnakeBridge.Ref.method(hash, "hexdigest", []) ==
               {:ok, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    end

    test "as a dict key and nested" do
      assert SnakeBridge.call("sb_foundation", "key_type_names", [
               %{SnakeBridge.bytes("k") => 1, "k" => 2}
             ]) == {:ok, ["bytes", "str"]}

      assert describe([SnakeBridge.bytes(<<0, 255>>)]) == {"builtins.list", "[b'\\x00\\xff']"}
    end

    test "Python to Elixir: bytes come back as a binary" do
      assert roundtrip(SnakeBridge.bytes("abc")) == {:ok, "abc"}
    end

    test "a non-binary raises ArgumentError" do
      assert_raise ArgumentError, ~r/SnakeBridge.bytes\/1: binary must be a binary/, fn ->
        SnakeBridge.bytes(:abc)
      end
    end
  end

  describe "keys that collide after conversion" do
    test "two map keys that become one Python key are a ConversionError" do
      assert {:error, %ConversionError{reason: :duplicate_key, path: [{:arg, 1}]} = e} =
               SnakeBridge.call("sb_foundation", "bump", ["dup", %{{1, 2} => :a, [1, 2] => :b}])

      assert e.term in [{1, 2}, [1, 2]]
      assert Exception.message(e) =~ "becomes the same Python value as another key"
      # Python was not called.
      assert SnakeBridge.call!("sb_foundation", "count", ["dup"]) == 0

      assert {:error, %ConversionError{reason: :duplicate_key, path: [{:arg, 0}, {:key, "m"}]}} =
               roundtrip(%{"m" => %{:a => 1, "a" => 2}})
    end

    test "MapSet members and keyword names likewise" do
      assert {:error, %ConversionError{reason: :duplicate_key, path: [{:arg, 0}]}} =
               roundtrip(MapSet.new([{1, 2}, [1, 2]]))

      assert {:error, %ConversionError{reason: :duplicate_key, term: :a, path: []} = e} =
               SnakeBridge.call("builtins", "dict", [], a: 1, a: 2)

      assert Exception.message(e) =~ "the keyword options"
    end

    test "ordinary maps and sets are unaffected" do
      m = Map.new(1..1000, &{&1, -&1})
      assert roundtrip(m) == {:ok, m}
      assert roundtrip(%{1 => :a, 1.0 => :b}) |> elem(0) == :error
      assert roundtrip(MapSet.new(1..100)) == {:ok, MapSet.new(1..100)}
    end
  end

  describe "SnakeBridge.Encoder" do
    test "a struct with an implementation is sent as what encode/1 returns" do
      assert SnakeBridge.call("json", "dumps", [%Point{x: 1, y: 2}], sort_keys: true) ==
               {:ok, ~s({"x": 1, "y": 2})}
    end

    test "anywhere in the arguments and keyword options, and in turn" do
      args = [[%Point{x: 1, y: 2}], %{"p" => {%Celsius{degrees: 20}}}]

      assert SnakeBridge.call("sb_foundation", "args_and_kwargs", args, q: %Point{x: 0, y: 0}) ==
               {:ok,
                %{
                  "args" => [[%{"x" => 1, "y" => 2}], %{"p" => {%{"x" => 20, "y" => "C"}}}],
                  "kwargs" => %{"q" => %{"x" => 0, "y" => 0}}
                }}
    end

    test "for Ref methods and stream/5 too" do
      {:ok, deque} = SnakeBridge.call("collections", "deque", [[]])
      assert {:ok, nil} = SnakeBridge.Ref.method(deque, "append", [%Point{x: 3, y: 4}])
      assert SnakeBridge.call("builtins", "list", [deque]) == {:ok, [%{"x" => 3, "y" => 4}]}

      me = self()

      assert :ok =
               SnakeBridge.stream("builtins", "iter", [[%Point{x: 5, y: 6}]], [], fn item ->
                 send(me, {:item, item})
                 :ok
               end)

      assert_received {:item, %{"x" => 5, "y" => 6}}
    end

    test "a struct with no implementation is still a ConversionError" do
      s = %NoEncoder{a: 1}

      assert {:error, %ConversionError{term: ^s, path: [{:arg, 2}]}} =
               SnakeBridge.call("sb_foundation", "bump", ["noenc", %Point{x: 1, y: 1}, s])

      assert SnakeBridge.call!("sb_foundation", "count", ["noenc"]) == 0
    end

    test "an implementation defined after protocols were consolidated (iex) works" do
      # As typed in iex: the protocol is consolidated, the implementation is found by name.
      ExUnit.CaptureIO.capture_io(:stderr, fn ->
        Code.eval_string("""
        defmodule SnakeBridge.ValuesTest.Late do
          defstruct [:v]
        end

        defimpl SnakeBridge.Encoder, for: SnakeBridge.ValuesTest.Late do
          def encode(%{v: v}), do: [v, v]
        end
        """)
      end)

      late = struct(SnakeBridge.ValuesTest.Late, v: 7)
      assert SnakeBridge.call("sb_foundation", "identity", [late]) == {:ok, [7, 7]}
    end

    test "an encode/1 that never ends raises ArgumentError" do
      assert_raise ArgumentError, ~r/more than 100 encode\/1 calls/, fn ->
        SnakeBridge.call("builtins", "repr", [%Loop{n: 0}])
      end
    end
  end

  describe "numpy scalars -> integers, floats, booleans" do
    if @numpy_missing, do: @describetag(skip: @numpy_missing)

    test "Python to Elixir: .item() of integer, floating and bool scalars" do
      assert SnakeBridge.call("numpy", "int64", [-5]) == {:ok, -5}
      assert SnakeBridge.call("numpy", "uint64", [2 ** 64 - 1]) == {:ok, 2 ** 64 - 1}
      assert SnakeBridge.call("numpy", "uint8", [255]) == {:ok, 255}
      assert SnakeBridge.call("numpy", "float32", [1.5]) == {:ok, 1.5}
      assert SnakeBridge.call("numpy", "float64", [0.1]) == {:ok, 0.1}
      assert SnakeBridge.call("numpy", "bool_", [true]) == {:ok, true}
      assert SnakeBridge.call("numpy", "bool_", [0]) == {:ok, false}
      assert SnakeBridge.call("numpy", "float32", [:infinity]) == {:ok, :infinity}
    end

    test "an integer array is a Ref whose items are integers (Enum.sum works)" do
      {:ok, arr} = SnakeBridge.call("numpy", "arange", [10])
      assert Enum.sum(arr) == 45
      assert SnakeBridge.call("builtins", "list", [arr]) == {:ok, Enum.to_list(0..9)}
      {:ok, total} = SnakeBridge.Ref.method(arr, "sum", [])
      assert total == 45
    end

    test "complex and datetime64 scalars have values too (science_test.exs has the rest)" do
      assert SnakeBridge.call("numpy", "complex128", [1]) ==
               {:ok, %SnakeBridge.Complex{re: 1.0, im: 0.0}}

      assert SnakeBridge.call("numpy", "datetime64", ["2024-01-01"]) ==
               {:ok, ~N[2024-01-01 00:00:00]}

      assert {:ok, %SnakeBridge.Ref{}} = SnakeBridge.call("numpy", "dtype", ["int8"])
    end

    test "Elixir to Python: integers and floats, which numpy takes" do
      assert SnakeBridge.call("numpy", "int64", [7]) == {:ok, 7}
      assert SnakeBridge.call("numpy", "add", [2, 3]) == {:ok, 5}
      assert SnakeBridge.call("numpy", "logical_not", [true]) == {:ok, false}
    end
  end

  describe "without numpy loaded" do
    # In a VM of its own: numpy is loaded in this one once a numpy test ran.
    test "a plain object stays a Ref and numpy is not imported" do
      ebin = Path.join(Mix.Project.build_path(), "lib/snakebridge/ebin")
      helpers = Path.expand("support/python", __DIR__)

      script = """
      {:ok, _} = Application.ensure_all_started(:snakebridge)
      {:ok, _} = SnakeBridge.call("sys", "path.insert", [0, #{inspect(helpers)}])
      before = SnakeBridge.call!("sb_values", "numpy_loaded", [])
      {:ok, %SnakeBridge.Ref{type_name: t1}} = SnakeBridge.call("sb_values", "not_numpy", [])
      {:ok, %SnakeBridge.Ref{}} = SnakeBridge.call("builtins", "object", [])
      {:ok, 1} = SnakeBridge.call("builtins", "int", [1])
      IO.inspect({before, t1, SnakeBridge.call!("sb_values", "numpy_loaded", [])})
      """

      {out, status} =
        System.cmd(System.find_executable("elixir"), ["-pa", ebin, "-e", script],
          stderr_to_stdout: true
        )

      assert status == 0, out
      assert out =~ ~s({false, "int64", false})
    end
  end
end
