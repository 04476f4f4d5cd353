# Runs every benchmark and prints one table. From the repo root:
#   mix run bench/all.exs
#   ELIXIR_ERL_OPTIONS="+sbwtdio very_long +sbwtdcpu very_long" mix run bench/all.exs
Code.require_file("support.exs", __DIR__)
:persistent_term.put(:bench_all, true)

# Memory first: its RSS figures start from a BEAM that the other runs have not grown.
scripts =
  ~w(memory stream_next batch ref_enum callback_stream call_overhead convert execution python_world library pools large_values arrays busy iter)

modules =
  for script <- scripts,
      {mod, _} <- Code.require_file(script <> ".exs", __DIR__) || [],
      function_exported?(mod, :run, 0),
      do: mod

Bench.Support.header()
Bench.Support.setup!()
{us, rows} = :timer.tc(fn -> Enum.flat_map(modules, &Bench.Support.section/1) end)
Bench.Support.print_table(rows)
IO.puts("total #{Bench.Support.fmt(us / 1_000_000)} s")
