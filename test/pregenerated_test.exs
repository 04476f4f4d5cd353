defmodule SnakeBridge.PregeneratedTest do
  # Files written by `mix snakebridge.gen` before the generator's positional `info`
  # tuples became SnakeBridge.Library.Signature (test/fixtures/pregenerated_*.ex) still
  # compile without warnings, and calls through them give what calls through the
  # wrappers generated now give.
  # Not async: the warnings are read from stderr, which other tests write to.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO

  alias SnakeBridge.{Ref, StreamRef}

  @fixtures Path.expand("fixtures", __DIR__)

  setup_all do
    warnings =
      capture_io(:stderr, fn ->
        for file <- ["pregenerated_sb_library.ex", "pregenerated_math.ex"],
            do: Code.compile_file(Path.join(@fixtures, file))
      end)

    # Named through variables: these modules do not exist when this file compiles.
    old = Module.concat([SnakeBridge, Pregenerated, Lib])
    %{warnings: warnings, old: old, old_math: Module.concat([SnakeBridge, Pregenerated, Math])}
  end

  test "the old files compile without warnings", %{warnings: warnings} do
    assert warnings == ""
  end

  test "functions: the same results as the wrappers generated now", %{old: old} do
    new = SnakeBridge.TestLib.Lib
    assert functions(old) == functions(new)
    assert functions(old) |> Enum.take(3) |> Enum.map(&elem(&1, 0)) == [{:ok, 3}, {:ok, 3}, 3]
    # typing's Iterator and Optional (imported by sb_library.py) report (*args, **kwargs):
    # since the fixture was written, such a signature gets the unknown-signature shape.
    forwarding = [:iterator, :optional]
    assert {:iterator, 8, "Iterator(*args, **kwargs)"} in new.__functions__()
    assert drop(old.__functions__(), forwarding) == drop(new.__functions__(), forwarding)
  end

  test "errors: the same exceptions and messages (with the module's name)", %{old: old} do
    new = SnakeBridge.TestLib.Lib
    assert errors(old) == errors(new)
    assert [{ArgumentError, "Lib.add: unknown keyword argument :c" <> _} | _] = errors(new)
  end

  test "streaming variants", %{old: old} do
    new = SnakeBridge.TestLib.Lib
    assert streams(old) == streams(new)
    assert hd(streams(old)) == {:ok, [0, 1]}
  end

  test "classes: new, methods, getters, wrong-class errors", %{old: old} do
    old_point = Module.concat(old, Point)
    new_point = SnakeBridge.TestLib.Lib.Point
    assert classes(old) == classes(SnakeBridge.TestLib.Lib)
    assert hd(classes(old)) == {:ok, 5.0}
    assert old_point.__functions__() == new_point.__functions__()
    assert length(old.__classes__()) == length(SnakeBridge.TestLib.Lib.__classes__())
  end

  test "a function whose signature Python cannot report, constants", %{old_math: math} do
    new = SnakeBridge.TestLib.Math

    calls = [
      {:log, [8, 2]},
      {:log, [8]},
      {:sqrt, [2.0]},
      {:sqrt!, [16]},
      {:hypot, [3, 4]},
      {:pi, []}
    ]

    results = for {f, args} <- calls, do: {apply(math, f, args), apply(new, f, args)}
    assert Enum.all?(results, fn {old, new} -> old == new end)
    assert hd(results) == {{:ok, 3.0}, {:ok, 3.0}}
    assert {:error, %SnakeBridge.PythonError{type: "TypeError"}} = math.log()
    assert {:log, 8, _} = Enum.find(math.__functions__(), &match?({:log, 8, _}, &1))
  end

  test "files generated now hold a Signature; the runtime takes it and the old tuple alike" do
    source = SnakeBridge.Library.source("sb_library", SnakeBridge.PregeneratedTest.Now, [])
    assert source =~ ~s(%SnakeBridge.Library.Signature{\n)
    refute source =~ ~s({"SnakeBridge.PregeneratedTest.Now.add", [:a, :b], [], []})

    tuple = {"Lib.kw", [:a, :required, :optional], [:required], [timeout: 5_000]}
    signature = SnakeBridge.Library.Signature.new(tuple)
    assert signature.keywords == [:a, :required, :optional]
    assert SnakeBridge.Library.Signature.new(signature) == signature

    for info <- [tuple, signature] do
      assert SnakeBridge.Library.Runtime.call("sb_library", "kw", {[1], [required: 2]}, info) ==
               {:ok, %{"a" => 1, "required" => 2, "optional" => "opt"}}

      assert_raise ArgumentError, ~r/^Lib.kw: missing the required keyword argument/, fn ->
        SnakeBridge.Library.Runtime.call("sb_library", "kw", {[1], []}, info)
      end
    end
  end

  defp functions(m) do
    [
      {:add, [1, 2]},
      {:add, [1, 2, []]},
      {:add!, [1, 2]},
      {:add, [1, 2, [__runtime__: [timeout: 5_000]]]},
      {:scale, [1.0]},
      {:scale, [1.0, 3.0]},
      {:scale, [1.0, 3.0, 1.0]},
      {:scale, [1.0, 3.0, 1.0, []]},
      {:scale, [1.0, [factor: 5.0]]},
      {:scale, [1.0, 3.0, [offset: 1.0]]},
      {:scale, [1.0, []]},
      {:scale!, [2.0, 2.0]},
      {:pos_only, [1]},
      {:pos_only, [1, 2]},
      {:kw, [1, [required: 2]]},
      {:kw, [1, [required: 2, optional: "x"]]},
      {:kwargs, [1, [x: 2, y: "z"]]},
      {:varargs, [1]},
      {:varargs, [1, [__args__: [2, 3]]]},
      {:everything, [1, 2, [d: 4]]},
      {:everything, [1, 2, 30, [d: 4, e: 6, z: 9, __args__: [7]]]},
      {:echo, [[a: 1], []]},
      {:echo, [[]]},
      {:typed, [[1, 2], %{"a" => 1.0}]},
      {:py_end, [1]},
      {:answer, []},
      {:greeting, []},
      {:numbers, [3]},
      {:generate, ["x", [stream: true, count: 2]]}
    ]
    |> Enum.map(fn {f, args} -> {plain(apply(m, f, args)), {f, length(args)}} end)
  end

  defp drop(rows, names), do: Enum.reject(rows, &(elem(&1, 0) in names))

  defp errors(m) do
    [
      fn -> m.add(1, 2, c: 3) end,
      fn -> m.kw(1) end,
      fn -> m.kw!(1, optional: "x") end,
      fn -> m.pos_only(1, b: 2) end,
      fn -> m.everything(1, 2) end,
      fn -> m.add!(1, "x") end,
      fn -> m.add(1, 2, __runtime__: [bogus: 1]) end,
      fn -> m.varargs(1, __args__: 2) end,
      fn -> m.add(1, 2, [:not_kw]) end,
      fn -> m.generate_stream("x", bogus: 1) end,
      fn -> m.generate_stream("x", :nope) end
    ]
    |> Enum.map(fn f ->
      try do
        {:returned, f.()}
      rescue
        e -> {e.__struct__, short(Exception.message(e), m)}
      end
    end)
  end

  defp streams(m) do
    parent = self()
    callback = fn item -> send(parent, {:item, m, item}) && :ok end

    results = [
      m.generate_stream("in", count: 2),
      m.generate_stream("in"),
      m.generate_stream("in", __runtime__: [stream_timeout: 300_000]),
      m.generate_stream("in", [stream: true, count: 3], callback),
      m.generate_stream("in", callback),
      m.generate_stream("x", [count: 100], fn _ -> :halt end),
      m.slow_generate_stream(100, [__runtime__: [stream_timeout: 100]], fn _ -> :ok end),
      m.slow_generate_stream(2)
    ]

    items = for _ <- 1..6, do: receive(do: ({:item, ^m, i} -> i), after: (1_000 -> nil))
    results ++ [items]
  end

  defp classes(m) do
    {point, point3, other} =
      {Module.concat(m, Point), Module.concat(m, Point3), Module.concat(m, Other)}

    p = point.new!(3.0, 4.0)
    origin = point.origin!()
    p3 = point3.new!(3.0, 4.0, 5.0)

    [
      point.norm(p),
      point.norm!(p),
      point.x(p),
      point.y!(p),
      point.dims!(p),
      point.as_tuple(p),
      point.as_tuple!(point.moved!(p, 1)),
      point.as_tuple!(point.moved!(p, 1, 2, scale: 2)),
      point.as_tuple!(origin),
      point.distance(p, origin),
      point.y!(point.new!(1.0)),
      point.norm(p3),
      point.x(p3),
      point3.z!(p3),
      plain(point.new(1.0)),
      rescued(fn -> point.norm(other.new!()) end, m),
      rescued(fn -> point.x(other.new!()) end, m),
      rescued(fn -> point.norm(5) end, m),
      rescued(fn -> point.moved(p, 1, bogus: 1) end, m)
    ]
  end

  defp rescued(f, m) do
    f.()
  rescue
    e -> {e.__struct__, short(Exception.message(e), m)}
  end

  # Refs and StreamRefs compared by what they hold.
  defp plain({:ok, %StreamRef{} = s}), do: {:ok, {:stream, Enum.to_list(s)}}
  defp plain({:ok, %Ref{type_name: t}}), do: {:ok, {:ref, t}}
  defp plain(other), do: other

  defp short(message, m), do: String.replace(message, inspect(m), "Lib")
end
