defmodule SnakeBridge.LargeMapsTest do
  # Python dicts and sets become maps on library threads, which the BEAM does not manage:
  # up to 128 keys from arrays there, 129..511 key by key, 512 and more from arrays on a
  # scheduler (map_builder.rs, through SnakeBridge.Sink). Every size is compared by
  # contents, and each map is checked to be well formed (a lookup of every key, and a
  # round trip through the external format, which rebuilds it).
  use ExUnit.Case, async: false

  @moduletag timeout: 300_000

  defp eval!(code) do
    {:ok, value} = SnakeBridge.call("builtins", "eval", [code])
    value
  end

  defp assert_well_formed(map, expected) do
    assert map_size(map) == map_size(expected)
    assert map === expected
    assert Enum.all?(expected, fn {k, v} -> Map.fetch(map, k) == {:ok, v} end)
    assert :erlang.binary_to_term(:erlang.term_to_binary(map)) === expected
  end

  test "dicts of every size up to a million str keys convert whole" do
    for n <- [0, 1, 32, 33, 128, 129, 511, 512, 513, 4096, 100_000, 1_000_000] do
      map = eval!("{f'k{i}': i * 2 for i in range(#{n})}")
      assert_well_formed(map, Map.new(0..(n - 1)//1, &{"k#{&1}", &1 * 2}))
    end
  end

  test "int, float and tuple keys, and values of every kind, at hop sizes" do
    for n <- [600, 20_000] do
      map = eval!("{i: (i, str(i), i / 2) for i in range(#{n})}")
      assert_well_formed(map, Map.new(0..(n - 1), &{&1, {&1, "#{&1}", &1 / 2}}))

      map = eval!("{(i, 'x'): [i] for i in range(#{n})}")
      assert_well_formed(map, Map.new(0..(n - 1), &{{&1, "x"}, [&1]}))
    end
  end

  test "keys that become the same term: the later one wins, at every size" do
    # "k1" and b"k1" are two Python keys and one Elixir binary; from arrays the BEAM
    # drops such duplicates silently above 32 keys (and can leave a broken map).
    for n <- [20, 40, 128, 130, 600, 5000] do
      map =
        eval!(
          "{**{f'k{i}': i for i in range(#{n})}, **{f'k{i}'.encode(): -i for i in range(#{n})}}"
        )

      assert_well_formed(map, Map.new(0..(n - 1), &{"k#{&1}", -&1}))
    end

    # One duplicate pair among many distinct keys.
    map = eval!("{**{f'k{i}': i for i in range(1000)}, b'k7': 'bytes'}")
    assert_well_formed(map, Map.put(Map.new(0..999, &{"k#{&1}", &1}), "k7", "bytes"))
  end

  test "nested: a list of large dicts, and sets" do
    list = eval!("[{j: i for j in range(700)} for i in range(20)]")
    assert list === for(i <- 0..19, do: Map.new(0..699, &{&1, i}))
    Enum.each(list, &assert_well_formed(&1, Map.new(0..699, fn j -> {j, hd(Map.values(&1))} end)))

    for n <- [129, 600, 100_000] do
      set = eval!("set(range(#{n}))")
      assert set === MapSet.new(0..(n - 1))
      assert_well_formed(set.map, MapSet.new(0..(n - 1)).map)
    end
  end

  test "large maps from many processes at once" do
    tasks =
      for t <- 1..8 do
        Task.async(fn ->
          for _ <- 1..5 do
            map = eval!("{f'{#{t}}-{i}': i for i in range(3000)}")
            assert_well_formed(map, Map.new(0..2999, &{"#{t}-#{&1}", &1}))
          end
        end)
      end

    Task.await_many(tasks, 120_000)
  end
end
