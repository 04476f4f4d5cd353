defmodule SnakeBridge.ConformanceTest do
  # The conformance matrix: every value kind of README.md's Values table, at
  # sizes straddling every threshold of the code, through every path a value can take
  # between Elixir and Python, locally and on a pool worker. One test per path; each
  # runs every (value row, size) cell and fails naming all cells that came back wrong.
  #
  # Adding a value kind: one more entry in `rows/1`. A size: one more entry in that
  # row's sizes. A path: one more entry in @paths and a `run/3` clause. A threshold:
  # one more size in the rows it concerns (see @thresholds).
  #
  # Expected values are equal contents (`===`), or the README's normalisation (atoms and
  # `SnakeBridge.bytes` come back as binaries, list keys and set members as tuples, a
  # DateTime in UTC, microseconds at precision 6, a struct as what its Encoder returns).
  #
  # CONFORMANCE_TIMES=1 prints the slowest cells of each path.
  #
  # Not async: one test starts a pool of peer workers, and big values use memory.
  use ExUnit.Case, async: false

  alias SnakeBridge.{Array, ConversionError, Pool, Ref, Runtime, StreamRef, Wire}
  alias SnakeBridge.ValuesTest.{NoEncoder, Point}

  @moduletag timeout: 600_000

  @lib "sb_conformance"
  @pool :conformance_pool

  # Thresholds in the code, which the sizes below straddle.
  @kib 1024
  @mib 1024 * 1024
  # BEAM: binaries of more than 64 bytes are reference-counted (heap binaries below).
  @heap_bin 64
  # convert.rs DEFER_AT, stream.rs LIGHT: str/bytes data >= 64 KiB is copied without the
  # GIL (stream/5), items > 64 KiB are not served from a stream's buffer by next_ready.
  @defer 64 * @kib
  # job.rs SMALL/SHALLOW: requests of more than 2048 terms, or nested deeper than 64,
  # are copied on a dirty scheduler (Native.submit returns :large, then submit_large).
  @small_request 2048
  @shallow 64
  # enif.rs SMALL_MAP: maps of more than 128 keys cannot be built from arrays
  # off-scheduler (the BEAM's sort needs a scheduler above 128 items).
  @small_map 128
  # map_builder.rs HOP_AT: off-scheduler maps of 512 keys and more are built from arrays
  # on a scheduler (SnakeBridge.Sink); 129..511 keys key by key.
  @hop_map 512
  # BEAM: maps of more than 32 keys are hash maps (flat maps below).
  @flat_map 32
  # wire.rs: JSON nesting limit (encode refuses 128 levels and more: serde_json's parser
  # decodes at most 127).
  @wire_depth 128
  # convert.rs MAX_INT_BITS: integers up to 2^24 bits convert from Python.
  @max_int_bits 16_777_216

  # {name, threshold, rows (a regex of row names) that must have cells of n <= threshold
  # and of n > threshold}: checked by the last test, so a new threshold is one more line.
  @thresholds [
    {:heap_bin, @heap_bin, "^str|bytes"},
    {:defer, @defer - 1, "^str|bytes|bytearray|Decimal|Array"},
    {:mib, @mib, "^str|bytes"},
    {:mib8, 8 * @mib, "^str ascii"},
    {:small_request, @small_request - 10, "^(list|tuple|MapSet) of ints$|^nil$|^Ref$|^Date$"},
    {:shallow, @shallow - 3, "^nested"},
    {:small_map, @small_map, "^(map|MapSet|dict|OrderedDict|frozenset|keyword)"},
    {:flat_map, @flat_map, "^(map|MapSet)"},
    {:hop_map, @hop_map - 1, "^(map str|MapSet of ints|map of large maps)"},
    {:wire_depth, @wire_depth, "^nested"},
    {:max_int_bits, @max_int_bits, "^int of n bits"}
  ]

  # Paths: {id, where}. `run/3` has one clause per id. Items of stream-like paths: @n.
  @local_only [:wire_json]
  @python_paths [
    :call,
    :call_kwarg,
    :ref_method,
    :ref_setattr_getattr,
    :ref_enum,
    :eval_expression,
    :eval_statements,
    :stream_next,
    :stream_next_buffered,
    :next_batch,
    :enum_stream_batched,
    :enum_async_generator,
    :coroutine,
    :call_arrays,
    :stream5_generator,
    :stream5_async_generator,
    :pid_send,
    :module_send,
    :elixir_fun_argument,
    :elixir_fun_result,
    :elixir_iter,
    :stream_ref_wire
  ]
  @paths Enum.map(@local_only ++ @python_paths, &{&1, :local}) ++
           Enum.map(@python_paths, &{&1, :pool})
  @n 3

  setup_all do
    SnakeBridge.TestDistribution.start!()
    :ok = Pool.start(@pool, peers: 1)
    on_exit(fn -> Pool.stop(@pool) end)
    :ok
  end

  for {path, where} <- @paths do
    @tag path: path, where: where
    if where == :pool, do: @tag(:pools)

    test "#{path} (#{where})", %{path: path, where: where} do
      ctx = context(where)
      cells = cells(ctx)
      t0 = System.monotonic_time(:millisecond)

      timed =
        for cell <- cells, path not in cell.skip do
          {us, message} = :timer.tc(fn -> check(path, cell, ctx) end)
          {us, cell, message}
        end

      if System.get_env("CONFORMANCE_TIMES") do
        for {us, cell, _} <- Enum.take(Enum.sort_by(timed, &(-elem(&1, 0))), 6),
            do: IO.puts("#{path} #{where} #{div(us, 1000)} ms #{cell.row} #{cell.size}")
      end

      failures =
        for {_, cell, message} <- timed, message != :ok do
          "#{cell.row} [#{cell.size}] via #{path} (#{where}): #{message}"
        end

      ms = System.monotonic_time(:millisecond) - t0

      assert failures == [],
             "#{length(failures)} of #{length(cells)} cells failed on path #{path} " <>
               "(#{where}, #{ms} ms):\n" <> Enum.join(failures, "\n")
    end
  end

  test "the matrix straddles every threshold" do
    cells = cells(context(:local))

    for {name, t, rows} <- @thresholds do
      ns = for cell <- cells, cell.row =~ Regex.compile!(rows), do: cell.n
      assert Enum.any?(ns, &(&1 <= t)) and Enum.any?(ns, &(&1 > t)), "#{name}: #{inspect(ns)}"
    end
  end

  # ------------------------------------------------------------------ where paths run

  defp context(:local), do: %{rt: [], where: :local, node: node()}

  defp context(:pool) do
    :ok = Pool.ready(@pool, 120_000)
    [worker] = Pool.nodes(@pool)
    dir = Path.expand("support/python", __DIR__)
    {:ok, _} = :erpc.call(worker, SnakeBridge, :call, ["sys", "path.insert", [0, dir]])
    %{rt: [__runtime__: [pool_name: @pool]], where: :pool, node: worker}
  end

  defp rt(ctx, extra) do
    case ctx.rt do
      [] when extra == [] -> []
      [] -> [__runtime__: extra]
      [__runtime__: r] -> [__runtime__: r ++ extra]
    end
  end

  # ------------------------------------------------------------------ value rows
  #
  # A cell: %{row, size, n, value, shape, expect, cmp}. `shape` names what Python
  # turns the value into before handing it back (sb_conformance.shape), for kinds only
  # Python makes; `expect` is {:value, term} or :conversion_error; `cmp` maps both
  # sides before `===` (Refs compare by Python identity, StreamRefs by id).

  defp cells(ctx) do
    for row <- rows(ctx), cell <- row, do: cell
  end

  defp rows(ctx) do
    uuid = "12345678-ABCD-5678-1234-567812345678"

    [
      scalar("nil", nil),
      scalar("true", true),
      scalar("false", false),
      scalar("int 0", 0),
      scalar("int -1", -1),
      scalar("int 2^27 (small int edge)", 134_217_728),
      scalar("int 2^63-1", 9_223_372_036_854_775_807),
      scalar("int -2^63", -9_223_372_036_854_775_808),
      scalar("int 2^64 (bignum)", 18_446_744_073_709_551_616),
      scalar("int -2^100", -1_267_650_600_228_229_401_496_703_205_376),
      sized("int of n bits", [@max_int_bits], &same(int_of_bits(&1))),
      sized("int of n bits", [@max_int_bits + 1], &{int_of_bits(&1), nil},
        expect: {:python_error, "OverflowError"}
      ),
      scalar("float 1.5", 1.5),
      scalar("float -0.0", -0.0),
      scalar("float max", 1.7976931348623157e308),
      scalar("float min subnormal", 5.0e-324),
      scalar("float 0.1", 0.1),
      scalar(":infinity", :infinity),
      scalar(":neg_infinity", :neg_infinity),
      scalar(":nan", :nan),
      scalar("atom", :hello, expect: "hello"),
      scalar("atom 255 chars", String.to_atom(String.duplicate("a", 255)),
        expect: String.duplicate("a", 255)
      ),
      scalar("str with NUL", "a\0b"),
      sized(
        "str ascii",
        [0, 1, @heap_bin, @heap_bin + 1, @defer - 1, @defer, @mib, 8 * @mib, 8 * @mib + 1],
        &same(ascii(&1))
      ),
      sized("str 2-byte UTF-8", [@defer - 2, @defer, @mib], &same(utf8("é", &1))),
      sized("str 4-byte UTF-8", [@defer - 4, @defer, @mib + 4], &same(utf8("🐍", &1))),
      sized(
        "bytes (not UTF-8)",
        [1, @heap_bin + 1, @defer - 1, @defer, @mib, 8 * @mib],
        &same(not_utf8(&1))
      ),
      sized(
        "SnakeBridge.bytes (UTF-8 data)",
        [0, @heap_bin + 1, @defer - 1, @defer, @mib, 8 * @mib],
        fn n ->
          {SnakeBridge.bytes(ascii(n)), ascii(n)}
        end
      ),
      sized(
        "bytearray",
        [1, @defer - 1, @defer, @mib],
        fn n ->
          {SnakeBridge.bytes(ascii(n)), ascii(n)}
        end,
        shape: "bytearray"
      ),
      sized("bytes made in Python from str", [@defer - 1, @defer, 8 * @mib], &same(ascii(&1)),
        shape: "bytes_of_str"
      ),
      sized("list of 64 KiB str", [2, 20], fn n -> same(List.duplicate(ascii(@defer), n)) end),
      sized(
        "list of ints",
        [0, 1, @small_request - 100, @small_request + 100, div(@mib, 8), div(@mib, 8) + 1],
        fn n ->
          same(Enum.to_list(1..n//1))
        end
      ),
      sized("tuple of ints", [0, 1, @small_request - 100, @small_request + 100], fn n ->
        same(List.to_tuple(Enum.to_list(1..n//1)))
      end),
      sized("charlist", [5], fn _ -> same(~c"hello") end),
      sized("keyword list", [1, 65], fn n ->
        kw = for i <- 1..n, do: {String.to_atom("k#{i}"), i}
        {kw, for({k, v} <- kw, do: {Atom.to_string(k), v})}
      end),
      sized(
        "nested list (depth)",
        [
          1,
          @shallow - 6,
          @shallow - 1,
          @shallow + 2,
          @wire_depth - 1,
          @wire_depth,
          @wire_depth + 1,
          900
        ],
        &same(nest(&1))
      ),
      scalar("tuple mixed", {1, "a", [2.5, nil], {}, %{"k" => {true}}}),
      sized(
        "map str => int",
        [0, 1, @flat_map, @flat_map + 1, @small_map, @small_map + 1] ++
          [@hop_map - 1, @hop_map, 1100, 20_000],
        fn n ->
          same(Map.new(1..n//1, &{"k#{&1}", &1}))
        end
      ),
      sized("map of large maps", [@hop_map - 1, @hop_map], fn n ->
        same(Map.new(1..3, &{"k#{&1}", Map.new(1..n, fn j -> {j, "v#{j}"} end)}))
      end),
      sized("map atom keys", [1, @small_map + 1], fn n ->
        {Map.new(1..n, &{String.to_atom("a#{&1}"), &1}), Map.new(1..n, &{"a#{&1}", &1})}
      end),
      sized("map int keys", [1, @small_map + 1], fn n -> same(Map.new(1..n, &{&1, -&1})) end),
      sized("map tuple keys", [1, @small_map + 1], fn n ->
        same(Map.new(1..n, &{{&1, "t"}, &1}))
      end),
      sized("map list keys (become tuples)", [1, @small_map + 1], fn n ->
        {Map.new(1..n, &{[&1, 0], &1}), Map.new(1..n, &{{&1, 0}, &1})}
      end),
      sized("map nested", [@small_map + 1], fn n ->
        same(Map.new(1..n, &{"k#{&1}", %{"inner" => Map.new(1..n, fn j -> {j, j} end)}}))
      end),
      sized(
        "dict subclass",
        [1, @small_map + 1],
        fn n -> same(Map.new(1..n, &{"k#{&1}", &1})) end,
        shape: "dict_subclass"
      ),
      sized("OrderedDict", [1, @small_map + 1], fn n -> same(Map.new(1..n, &{"k#{&1}", &1})) end,
        shape: "ordered_dict"
      ),
      sized(
        "MapSet of ints",
        [0, 1, @flat_map, @flat_map + 1, @small_map, @small_map + 1, @hop_map - 1, @hop_map] ++
          [@small_request + 100],
        fn n ->
          same(MapSet.new(1..n//1))
        end
      ),
      sized("MapSet of str", [1, @small_map + 1], fn n -> same(MapSet.new(1..n, &"m#{&1}")) end),
      sized("MapSet of lists (become tuples)", [1, @small_map + 1], fn n ->
        {MapSet.new(1..n, &[&1]), MapSet.new(1..n, &{&1})}
      end),
      sized("frozenset", [1, @small_map + 1], fn n -> same(MapSet.new(1..n)) end,
        shape: "frozenset"
      ),
      scalar("namedtuple", {1, "b"}, shape: "namedtuple"),
      scalar("IntEnum", 1, shape: "intenum"),
      scalar("IntEnum (bignum)", 1_180_591_620_717_411_303_424, shape: "intenum"),
      scalar("NaiveDateTime, no microsecond", ~N[2024-01-01 00:00:00]),
      scalar("NaiveDateTime, microseconds", ~N[2024-03-10 12:30:15.000250]),
      scalar("NaiveDateTime, ms precision", ~N[2024-03-10 12:30:15.120],
        expect: ~N[2024-03-10 12:30:15.120000]
      ),
      scalar("DateTime UTC", ~U[2024-03-10 12:30:15.000250Z]),
      scalar("DateTime +02:30", plus_0230(), expect: ~U[2024-03-10 12:30:15.000250Z]),
      scalar("Date", ~D[2024-02-29]),
      scalar("Time", ~T[12:00:00]),
      scalar("Time, ms precision", ~T[23:59:59.120], expect: ~T[23:59:59.120000]),
      scalar("date subclass", ~D[2024-02-29], shape: "date_subclass"),
      scalar("datetime subclass", ~N[2024-02-29 01:02:03.000004], shape: "datetime_subclass"),
      scalar("aware datetime (Python)", ~N[2024-02-29 01:02:03.000004],
        shape: "aware_utc",
        expect: ~U[2024-02-29 01:02:03.000004Z]
      ),
      scalar("timedelta", 86_400_000_001, shape: "timedelta"),
      scalar("timedelta negative", -1, shape: "timedelta"),
      scalar("Decimal 1.10", %SnakeBridge.Decimal{value: "1.10"}),
      scalar("Decimal -0", %SnakeBridge.Decimal{value: "-0"}),
      scalar("Decimal 1E+3", %SnakeBridge.Decimal{value: "1E+3"}),
      scalar("Decimal NaN", %SnakeBridge.Decimal{value: "NaN"}),
      scalar("Decimal -Infinity", %SnakeBridge.Decimal{value: "-Infinity"}),
      sized("Decimal of n digits", [@defer - 1, @defer + 1, @mib], fn n ->
        same(%SnakeBridge.Decimal{value: "0." <> String.duplicate("7", n - 2)})
      end),
      scalar("UUID", uuid, shape: "uuid", expect: String.downcase(uuid)),
      # n bytes of data: shared (not copied) both ways from 64 KiB (shared_binary.rs
      # SHARE_AT). An Array comes back as a Ref without `arrays: true` (compared as the
      # Array of that Ref); JSON has no Array.
      sized("Array f64", [8, @defer - 8, @defer, @mib + 8], &same(array(&1, {:f, 64}, 8)),
        cmp: &as_array/1,
        skip: array_skip(ctx)
      ),
      sized("Array s16 3-D", [24, @defer - 16, @defer + 8], &same(array(&1, {:s, 16}, 2)),
        cmp: &as_array/1,
        skip: array_skip(ctx)
      ),
      pid_row(ctx),
      scalar("function", &Function.identity/1),
      scalar("Encoder struct", %Point{x: 1, y: "a"}, expect: %{"x" => 1, "y" => "a"}),
      ref_row(ctx),
      stream_ref_row(ctx),
      scalar("error: reference", make_ref(), expect: :conversion_error),
      scalar("error: port", hd(Port.list()), expect: :conversion_error),
      scalar("error: improper list", [1 | 2], expect: :conversion_error),
      scalar("error: struct without Encoder", %NoEncoder{a: 1}, expect: :conversion_error),
      scalar("error: map as map key", %{%{"a" => 1} => 1}, expect: :conversion_error),
      scalar("error: duplicate key", %{:a => 1, "a" => 2}, expect: :conversion_error)
    ]
  end

  defp same(v), do: {v, v}

  defp int_of_bits(bits), do: Bitwise.bsl(1, bits - 1) + 12_345

  # 2024-03-10 15:00:15.000250+02:30, the instant 12:30:15.000250 UTC.
  defp plus_0230 do
    %DateTime{
      year: 2024,
      month: 3,
      day: 10,
      hour: 15,
      minute: 0,
      second: 15,
      microsecond: {250, 6},
      utc_offset: 9000,
      std_offset: 0,
      time_zone: "Etc/UTC+2:30",
      zone_abbr: "+0230"
    }
  end

  defp cell(row, size, n, {value, expect}, opts) do
    expect =
      case Keyword.get(opts, :expect, expect) do
        :conversion_error -> :conversion_error
        {:python_error, type} -> {:python_error, type}
        e -> {:value, e}
      end

    %{
      row: row,
      size: size,
      n: n,
      value: value,
      shape: opts[:shape],
      expect: expect,
      cmp: Keyword.get(opts, :cmp, & &1),
      skip: Keyword.get(opts, :skip, [])
    }
  end

  # A value of a size: the rows that have one.
  defp sized(row, sizes, make, opts \\ []) do
    for n <- sizes, do: cell(row, "n=#{n}", n, make.(n), opts)
  end

  # A value with no size of its own: alone, and as a list of copies on both sides of the
  # request limit (structs are ~10 terms each, so 1 copy is under it, 1900 over).
  defp scalar(row, value, opts \\ []) do
    expect = Keyword.get(opts, :expect, value)
    each = if opts[:shape], do: "each:" <> opts[:shape]
    cmp = Keyword.get(opts, :cmp, & &1)

    list = fn n ->
      e = if expect == :conversion_error, do: :conversion_error, else: List.duplicate(expect, n)
      Keyword.merge(opts, shape: each, expect: e, cmp: cmp)
    end

    [
      cell(row, "alone", 1, {value, expect}, opts),
      cell(
        row,
        "list of #{@small_request - 148}",
        @small_request - 148,
        {List.duplicate(value, @small_request - 148), nil},
        list.(@small_request - 148)
      ),
      cell(
        row,
        "list of #{@small_request + 152}",
        @small_request + 152,
        {List.duplicate(value, @small_request + 152), nil},
        list.(@small_request + 152)
      )
    ]
  end

  # Refs live where they were made: a Ref row makes its object on the path's node, and
  # compares by Python identity there.
  defp ref_row(ctx) do
    {:ok, ref} = SnakeBridge.call("fractions", "Fraction", [3, 4], ctx.rt)
    ids = fn v -> SnakeBridge.call(@lib, "ids", [v], ctx.rt) end
    # On a worker, Python can send only to the worker's own processes: such a message
    # (read here from the process's mailbox) holds a Ref that is valid only there.
    skip = if ctx.where == :pool, do: [:pid_send, :module_send], else: []
    scalar("Ref", ref, cmp: ids, skip: skip)
  end

  # A pid given to Python on a worker must be a process of that worker (README, Pools).
  defp pid_row(%{where: :local}), do: scalar("pid", self())

  defp pid_row(ctx) do
    pid = Node.spawn(ctx.node, :timer, :sleep, [60_000])
    scalar("pid (of the worker)", pid)
  end

  defp stream_ref_row(ctx) do
    {:ok, stream} = SnakeBridge.call("itertools", "count", [], ctx.rt)

    ids = fn
      %StreamRef{ref_id: id} ->
        {:stream, id}

      list when is_list(list) ->
        Enum.map(list, fn
          %StreamRef{ref_id: id} -> id
          x -> x
        end)

      other ->
        other
    end

    scalar("StreamRef", stream, cmp: ids)
  end

  defp ascii(n),
    do: :binary.copy("abcdefghijklmnopqrstuvwxyz0123456789", div(n, 36) + 1) |> binary_part(0, n)

  # `n` bytes of UTF-8 made of `char`.
  defp utf8(char, n), do: String.duplicate(char, div(n, byte_size(char)))

  # Starts with 0xFF: never UTF-8.
  defp not_utf8(n) do
    block = :binary.list_to_bin(Enum.to_list(255..0//-1))
    :binary.copy(block, div(n, 256) + 1) |> binary_part(0, n)
  end

  # An Array of `n` bytes of `type` (elements of `size` bytes), rank 1, or rank 3 for
  # 16-bit elements; its bytes differ from one element to the next.
  defp array(n, type, size) do
    count = div(n, size)
    data = for i <- 1..count, into: <<>>, do: elem_bytes(type, i)
    shape = if size == 2, do: {div(count, 12), 3, 4}, else: {count}
    Array.new(data, type, shape)
  end

  defp elem_bytes({:f, 64}, i), do: <<i * 1.5::float-64-native>>
  defp elem_bytes({:s, 16}, i), do: <<rem(i * 7919, 65_536) - 32_768::16-signed-native>>

  # As for the Ref row: what a worker's Python sends to (or calls in) the worker's own
  # processes holds a Ref valid only there, so it cannot be read as an Array here.
  defp array_skip(%{where: :pool}),
    do: [:wire_json, :pid_send, :module_send, :elixir_fun_argument]

  defp array_skip(_ctx), do: [:wire_json]

  defp as_array(%Ref{} = ref), do: Array.from_ref!(ref)
  defp as_array(list) when is_list(list), do: Enum.map(list, &as_array/1)
  defp as_array(other), do: other

  defp nest(0), do: 1
  defp nest(n), do: [nest(n - 1)]

  # ------------------------------------------------------------------ checking a cell

  defp check(path, cell, ctx) do
    expect = expectation(path, cell)

    result =
      try do
        run(path, cell, ctx)
      rescue
        e -> {:raised, e}
      catch
        kind, reason -> {:raised, {kind, reason}}
      end

    try do
      verdict(expect, result, cell.cmp)
    rescue
      e -> "comparing raised #{short(e)} (got #{short(result)})"
    end
  end

  # The wire format is JSON: its own normalisation of the Elixir value.
  defp expectation(:wire_json, cell) do
    case json(cell.value, 0) do
      {:ok, v} -> {:value, v}
      :error -> :wire_error
    end
  end

  # What an Elixir function returns has no ConversionError to give: Python gets a TypeError.
  defp expectation(:elixir_fun_result, %{expect: :conversion_error}),
    do: {:python_error, "TypeError"}

  # Nor has an item of SnakeBridge.iter/2 (converted on Python's thread).
  defp expectation(:elixir_iter, %{expect: :conversion_error}),
    do: {:python_error, "TypeError"}

  defp expectation(_path, cell), do: cell.expect

  defp verdict(:conversion_error, {:error, %ConversionError{}}, _cmp), do: :ok

  defp verdict(:conversion_error, other, _cmp),
    do: "expected {:error, %ConversionError{}}, got #{short(other)}"

  defp verdict({:python_error, type}, {:error, %SnakeBridge.PythonError{type: type}}, _cmp),
    do: :ok

  defp verdict({:python_error, type}, other, _cmp),
    do: "expected {:error, %PythonError{type: #{inspect(type)}}}, got #{short(other)}"

  defp verdict(:wire_error, {:error, _}, _cmp), do: :ok

  defp verdict(:wire_error, other, _cmp),
    do: "expected {:error, _} (not JSON), got #{short(other)}"

  defp verdict({:value, e}, {:ok, got}, cmp), do: compare(cmp.(e), cmp.(got))

  defp verdict({:value, e}, {:items, items}, cmp) do
    if length(items) == @n do
      Enum.find_value(Enum.with_index(items), :ok, fn {got, i} ->
        case compare(cmp.(e), cmp.(got)) do
          :ok -> nil
          message -> "item #{i}: #{message}"
        end
      end)
    else
      "expected #{@n} items, got #{length(items)}: #{short(items)}"
    end
  end

  defp verdict({:value, _}, other, _cmp), do: "got #{short(other)}"

  defp compare(e, got) when e === got, do: :ok

  defp compare(e, got) when is_binary(e) and is_binary(got) do
    at = :binary.longest_common_prefix([e, got])

    "binary of #{byte_size(got)} bytes (expected #{byte_size(e)}) differs from byte #{at}: " <>
      "got #{short(binary_part(got, at, min(16, byte_size(got) - at)))}, " <>
      "expected #{short(binary_part(e, at, min(16, byte_size(e) - at)))}"
  end

  defp compare(e, got) when is_list(e) and is_list(got) and length(e) == length(got) do
    {x, y, i} =
      Enum.zip(e, got)
      |> Enum.with_index()
      |> Enum.find_value(fn {{x, y}, i} -> x !== y and {x, y, i} end)

    "list differs at index #{i}: #{compare(x, y)}"
  end

  defp compare(e, got), do: "got #{short(got)}, expected #{short(e)}"

  defp short(term) when is_binary(term) and byte_size(term) > 48,
    do: "<<#{byte_size(term)} bytes: #{inspect(binary_part(term, 0, 24))}...>>"

  defp short(term), do: inspect(term, limit: 6, printable_limit: 48)

  # JSON as SnakeBridge.Wire documents it: maps, lists, strings, numbers, booleans, nil;
  # atoms become strings (a struct is a map, its __struct__ an atom).
  defp json(_v, depth) when depth >= @wire_depth, do: :error
  defp json(v, _) when v in [nil, true, false], do: {:ok, v}
  defp json(v, _) when is_atom(v), do: {:ok, Atom.to_string(v)}

  defp json(v, _)
       when is_integer(v) and v >= -9_223_372_036_854_775_808 and v < 18_446_744_073_709_551_616,
       do: {:ok, v}

  defp json(v, _) when is_float(v), do: {:ok, v}
  defp json(v, _) when is_binary(v), do: if(String.valid?(v), do: {:ok, v}, else: :error)

  defp json(v, depth) when is_list(v) do
    if improper?(v), do: :error, else: all(v, &json(&1, depth + 1))
  end

  defp json(v, depth) when is_map(v) do
    with {:ok, pairs} <-
           all(Map.to_list(v), fn {k, x} ->
             with {:ok, k} <- json_key(k), {:ok, x} <- json(x, depth + 1), do: {:ok, {k, x}}
           end),
         true <- length(Enum.uniq_by(pairs, &elem(&1, 0))) == length(pairs) || :error do
      {:ok, Map.new(pairs)}
    end
  end

  defp json(_, _), do: :error

  defp json_key(k) when is_atom(k), do: {:ok, Atom.to_string(k)}
  defp json_key(k) when is_binary(k), do: if(String.valid?(k), do: {:ok, k}, else: :error)
  defp json_key(_), do: :error

  defp improper?([]), do: false
  defp improper?([_ | t]), do: improper?(t)
  defp improper?(_), do: true

  defp all(items, fun) do
    Enum.reduce_while(items, {:ok, []}, fn x, {:ok, acc} ->
      case fun.(x) do
        {:ok, y} -> {:cont, {:ok, [y | acc]}}
        :error -> {:halt, :error}
      end
    end)
    |> case do
      {:ok, acc} -> {:ok, Enum.reverse(acc)}
      :error -> :error
    end
  end

  # ------------------------------------------------------------------ the paths
  #
  # run(path, cell, ctx) -> {:ok, value} | {:items, [value]} (@n copies) | {:error, _}

  defp run(:wire_json, %{value: v}, _ctx) do
    with {:ok, json} <- Wire.encode(v), do: Wire.decode(json)
  end

  defp run(:call, %{value: v, shape: s}, ctx),
    do: SnakeBridge.call(@lib, "identity", [v, s], ctx.rt)

  defp run(:call_kwarg, %{value: v, shape: s}, ctx),
    do: SnakeBridge.call(@lib, "kw", [], [kind: s, x: v] ++ ctx.rt)

  defp run(:ref_method, %{value: v, shape: s}, ctx) do
    box = SnakeBridge.call!(@lib, "Box", [], ctx.rt)
    Ref.method(box, "echo", [v, s])
  end

  defp run(:ref_setattr_getattr, %{value: v, shape: s}, ctx) do
    box = SnakeBridge.call!(@lib, "Box", [], ctx.rt)

    with :ok <- Ref.setattr(box, "raw", v),
         {:ok, nil} <- Ref.method(box, "store", [s]),
         do: Ref.getattr(box, "value")
  end

  defp run(:ref_enum, %{value: v, shape: s}, ctx) do
    with {:ok, %Ref{} = holder} <- SnakeBridge.call(@lib, "Holder", [v, s, @n], ctx.rt),
         do: enum(holder)
  end

  defp run(:eval_expression, %{value: v, shape: s}, ctx) do
    SnakeBridge.eval("__import__('sb_conformance').shape(s, x)", %{"x" => v, "s" => s}, ctx.rt)
  end

  defp run(:eval_statements, %{value: v, shape: s}, ctx) do
    code = "import sb_conformance\ny = sb_conformance.shape(s, x)\ndel sb_conformance"

    with {:ok, globals} <- SnakeBridge.eval(code, %{x: v, s: s}, ctx.rt) do
      if Map.keys(globals) |> Enum.sort() == ["s", "x", "y"],
        do: {:ok, globals["y"]},
        else: {:error, {:globals, Map.keys(globals)}}
    end
  end

  defp run(:stream_next, cell, ctx) do
    with {:ok, stream} <- gen(cell, ctx), do: next_each(stream, &Runtime.stream_next/1)
  end

  defp run(:stream_next_buffered, cell, ctx) do
    with {:ok, stream} <- gen(cell, ctx, stream_batch: 8),
         do: next_each(stream, &StreamRef.next/1)
  end

  defp run(:next_batch, cell, ctx) do
    with {:ok, stream} <- gen(cell, ctx),
         {:ok, items} <- StreamRef.next_batch(stream, @n + 5),
         {:error, :stop_iteration} <- StreamRef.next_batch(stream, 1),
         do: {:items, items}
  end

  defp run(:enum_stream_batched, cell, ctx) do
    with {:ok, stream} <- gen(cell, ctx, stream_batch: 2), do: enum(stream)
  end

  defp run(:enum_async_generator, %{value: v, shape: s}, ctx) do
    with {:ok, %StreamRef{stream_type: "async_generator"} = stream} <-
           SnakeBridge.call(@lib, "agen", [v, s, @n], ctx.rt),
         do: enum(stream)
  end

  defp run(:coroutine, %{value: v, shape: s}, ctx),
    do: SnakeBridge.call(@lib, "coro", [v, s], ctx.rt)

  # With `arrays: true`: Arrays come back as Arrays, and every other value as without it.
  defp run(:call_arrays, %{value: v, shape: s}, ctx),
    do: SnakeBridge.call(@lib, "identity", [v, s], rt(ctx, arrays: true))

  defp run(:stream5_generator, cell, ctx), do: stream5("gen", cell, ctx)
  defp run(:stream5_async_generator, cell, ctx), do: stream5("agen", cell, ctx)

  defp run(:pid_send, cell, ctx), do: send_back("pid_send", cell, ctx)
  defp run(:module_send, cell, ctx), do: send_back("module_send", cell, ctx)

  defp run(:elixir_fun_argument, %{value: v, shape: s}, ctx) do
    me = self()
    tag = make_ref()
    fun = fn arg -> send(me, {tag, arg}) && nil end

    with {:ok, nil} <- SnakeBridge.call(@lib, "call_fun", [fun, v, s], ctx.rt) do
      receive do
        {^tag, arg} -> {:ok, arg}
      after
        5_000 -> {:error, :no_call}
      end
    end
  end

  defp run(:elixir_fun_result, %{value: v, shape: s}, ctx),
    do: SnakeBridge.call(@lib, "fun_result", [fn -> v end, s], ctx.rt)

  # @n copies of the value, pulled by Python from an Elixir enumerable, 2 per hand-off.
  defp run(:elixir_iter, %{value: v, shape: s}, ctx) do
    it = SnakeBridge.iter(List.duplicate(v, @n), batch: 2)
    code = "[__import__('sb_conformance').shape(s, x) for x in it]"

    with {:ok, items} <- SnakeBridge.eval(code, %{"it" => it, "s" => s}, ctx.rt),
         do: {:items, items}
  end

  defp run(:stream_ref_wire, cell, ctx) do
    with {:ok, stream} <- gen(cell, ctx),
         {:ok, json} <- Wire.encode(StreamRef.to_wire_format(stream)),
         {:ok, wire} <- Wire.decode(json),
         {:ok, again} <- StreamRef.from_wire_format(wire) do
      items = enum(again)
      # The first handle stays alive until here (collecting it would close the stream).
      _ = StreamRef.exhausted?(stream)
      items
    end
  end

  # Enumerable raises the errors that calls return (README, Calling Python).
  defp enum(enumerable) do
    {:items, Enum.to_list(enumerable)}
  rescue
    e in [SnakeBridge.PythonError, ConversionError] -> {:error, e}
  end

  defp gen(%{value: v, shape: s}, ctx, extra \\ []) do
    case SnakeBridge.call(@lib, "gen", [v, s, @n], rt(ctx, extra)) do
      {:ok, %StreamRef{}} = ok -> ok
      {:ok, other} -> {:error, {:not_a_stream, other}}
      error -> error
    end
  end

  defp next_each(stream, next) do
    items = for _ <- 1..@n, do: next.(stream)

    case {Enum.split_with(items, &match?({:ok, _}, &1)), next.(stream)} do
      {{oks, []}, {:error, :stop_iteration}} -> {:items, Enum.map(oks, &elem(&1, 1))}
      {{_, [error | _]}, _} -> error
      {_, extra} -> {:error, {:not_exhausted, extra}}
    end
  end

  defp stream5(function, %{value: v, shape: s}, ctx) do
    me = self()
    tag = make_ref()

    result =
      SnakeBridge.stream(@lib, function, [v, s, @n], ctx.rt, fn item ->
        send(me, {tag, item})
        :ok
      end)

    items = drain(tag, [])

    case result do
      :ok -> {:items, items}
      error -> error
    end
  end

  defp drain(tag, acc) do
    receive do
      {^tag, item} -> drain(tag, [item | acc])
    after
      0 -> Enum.reverse(acc)
    end
  end

  # Python sends {tag, value} to a pid. On a pool worker the pid must be a process of
  # that worker: a process there that only sleeps, whose mailbox is read afterwards.
  defp send_back(function, %{value: v, shape: s}, %{where: :local} = ctx) do
    tag = System.unique_integer([:positive])

    with {:ok, nil} <- SnakeBridge.call(@lib, function, [self(), tag, v, s], ctx.rt) do
      receive do
        {^tag, x} -> {:ok, x}
      after
        5_000 -> {:error, :nothing_received}
      end
    end
  end

  defp send_back(function, %{value: v, shape: s}, ctx) do
    tag = System.unique_integer([:positive])
    inbox = Node.spawn(ctx.node, :timer, :sleep, [:infinity])

    try do
      with {:ok, nil} <- SnakeBridge.call(@lib, function, [inbox, tag, v, s], ctx.rt) do
        case :erpc.call(ctx.node, :erlang, :process_info, [inbox, :messages]) do
          {:messages, [{^tag, x}]} -> {:ok, x}
          other -> {:error, {:inbox, other}}
        end
      end
    after
      Process.exit(inbox, :kill)
    end
  end
end
