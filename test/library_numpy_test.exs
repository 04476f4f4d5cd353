defmodule SnakeBridge.LibraryNumpyTest do
  # Generated wrappers of numpy and pandas in a throwaway app that declares them in its
  # config (`python_packages:`, installed from PyPI into the app's venv by `mix compile`;
  # pip's cache makes that a download once per machine). Each wrapper compiles with
  # --warnings-as-errors within a generous bound; calls, docs and classes work. Where
  # pip cannot install them (no network), the test says so and checks nothing more.
  use ExUnit.Case, async: true

  import SnakeBridge.TestHelpers, only: [tmp_dir!: 1]

  alias SnakeBridge.TestApps

  @moduletag :integration
  # Measured at about 9 s (numpy) and 6 s (pandas) of mix compile; the machine's other load
  # can make the wall time several times that.
  @bound_ms 300_000

  defp mix(dir, args), do: TestApps.mix(dir, args, TestApps.env())

  @tag timeout: 1_800_000
  test "numpy and pandas: python_packages, warning-free wrappers, calls, docs, classes" do
    dir = TestApps.new!(tmp_dir!("sb_numpy_app"), :sb_np_app)

    File.write!(
      Path.join([dir, "config", "config.exs"]),
      ~s|import Config\nconfig :snakebridge, python_packages: ["numpy", "pandas"]\n|
    )

    File.write!(Path.join([dir, "lib", "sb_np_app.ex"]), "defmodule SbNpApp do\nend\n")

    # The NIF and the venv first (the wrappers come after: see issue 19).
    {out, status, ms} = mix(dir, ["compile"])

    if status != 0 and out =~ "could not install the Python package" do
      IO.puts("\n[skip] numpy/pandas could not be installed here (pip: no network?):\n" <> out)
    else
      assert status == 0, out
      IO.puts("\n[measure] mix compile, venv with numpy and pandas: #{ms} ms")
      check_wrappers!(dir)
    end
  end

  defp check_wrappers!(dir) do
    for {name, python} <- [{"Numpy", "numpy"}, {"Pandas", "pandas"}] do
      File.write!(Path.join([dir, "lib", "#{python}.ex"]), """
      defmodule SbNpApp.#{name} do
        use SnakeBridge.Library, python: "#{python}"
      end
      """)

      {out, status, ms} = mix(dir, ["compile", "--warnings-as-errors"])
      assert status == 0, out
      refute out =~ "warning", out
      IO.puts("[measure] use SnakeBridge.Library, python: #{python}: mix compile #{ms} ms")
      assert ms < @bound_ms
    end

    script = ~S"""
    alias SbNpApp.{Numpy, Pandas}
    a = Numpy.array!([1, 2, 3])
    {:docs_v1, _, _, _, _, _, docs} = Code.fetch_docs(Numpy)
    {_, _, _, %{"en" => mean_doc}, _} = Enum.find(docs, &match?({{:function, :mean, _}, _, _, %{}, _}, &1))
    {:docs_v1, _, _, _, %{"en" => series_doc}, _, _} = Code.fetch_docs(Pandas.Series)
    s = Pandas.Series.new!([1, 2, 3])

    IO.inspect(
      [
        tolist: Numpy.Ndarray.tolist!(Numpy.Ndarray.reshape!(a, [3, 1])),
        mean: Numpy.mean!([1, 2, 3]),
        mean_axis: Numpy.Ndarray.tolist!(Numpy.mean!([[1, 2], [3, 4]], axis: 0)),
        bool: {Numpy.Bool, "bool_"} in Numpy.__classes__(),
        ndarray: {Numpy.Ndarray, "ndarray"} in Numpy.__classes__(),
        mean_doc: mean_doc =~ "numpy.mean(",
        series: Pandas.Series.to_list!(Pandas.Series.add!(s, 1)),
        series_doc: series_doc =~ "One-dimensional ndarray with axis labels",
        frame: Pandas.DataFrame.to_dict!(Pandas.DataFrame.new!(%{"a" => [1, 2]}), "list")
      ],
      label: "checks",
      width: :infinity
    )
    """

    {out, status, _} = mix(dir, ["run", "-e", script])
    assert status == 0, out

    assert out =~
             ~s(checks: [tolist: [[1], [2], [3]], mean: 2.0, mean_axis: [2.0, 3.0], bool: true, ) <>
               ~s(ndarray: true, mean_doc: true, series: [2, 3, 4], series_doc: true, ) <>
               ~s(frame: %{"a" => [1, 2]}]),
           out
  end
end
