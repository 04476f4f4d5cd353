defmodule Mix.Tasks.Snakebridge.Gen do
  @shortdoc "Prints (or writes) the Elixir wrapper module of a Python module"
  @moduledoc """
  Prints the module `use SnakeBridge.Library` would generate, as an ordinary Elixir
  source file, for users who want to commit generated modules and read them:

      mix snakebridge.gen my_module
      mix snakebridge.gen my_module --out lib/my_app/my_module.ex --module MyApp.MyModule

  Options:

    * `--out path` - write the file there instead of printing it;
    * `--module Name` - the Elixir module (default: the Python name camelized,
      `os.path` → `Os.Path`);
    * `--streaming name` (repeatable), `--only name`, `--except name` (repeatable),
      `--no-classes` - as the options of `use SnakeBridge.Library`.

  The file is the same code, without `@external_resource` and `__mix_recompile__?/0`: a
  committed module is not regenerated when the Python source changes (run the task
  again).
  """
  use Mix.Task

  @switches [
    out: :string,
    module: :string,
    streaming: :keep,
    only: :keep,
    except: :keep,
    classes: :boolean
  ]

  @impl Mix.Task
  def run(args) do
    case OptionParser.parse(args, strict: @switches) do
      {opts, [python], []} ->
        Mix.Task.run("compile")
        generate(python, opts)

      _ ->
        Mix.raise(
          "usage: mix snakebridge.gen python_module [--out path] [--module Name] " <>
            "[--streaming name] [--only name] [--except name] [--no-classes]"
        )
    end
  end

  defp generate(python, opts) do
    module = module_name(python, opts[:module])

    source =
      try do
        SnakeBridge.Library.source(python, module, library_opts(opts))
      rescue
        e in [SnakeBridge.Library.Generator.Error, ArgumentError] ->
          Mix.raise(Exception.message(e))
      end

    write(source, opts[:out], module)
  end

  defp module_name(python, nil),
    do: python |> String.split(".") |> Enum.map(&Macro.camelize/1) |> Module.concat()

  defp module_name(_python, name), do: Module.concat([name])

  defp library_opts(opts) do
    only = Keyword.get_values(opts, :only)

    [
      streaming: Keyword.get_values(opts, :streaming),
      except: Keyword.get_values(opts, :except),
      classes: Keyword.get(opts, :classes, true)
    ] ++ if(only == [], do: [], else: [only: only])
  end

  defp write(source, nil, _module), do: Mix.shell().info(source)

  defp write(source, path, module) do
    File.mkdir_p!(Path.dirname(path))
    File.write!(path, source)
    Mix.shell().info("* wrote #{path} (#{inspect(module)})")
  end
end
