defmodule SnakeBridge.Native do
  @moduledoc false
  @on_load :load_nif

  # The NIF's file name is the build's (lib/mix/build/mix_python.exs, loaded by mix.exs
  # before lib/ compiles): one name for the file built and the file loaded.
  @nif_file SnakeBridge.MixPython.nif_file()

  @doc "The NIF's file in this build's priv/native."
  def nif_path, do: Path.join([to_string(:code.priv_dir(:snakebridge)), "native", @nif_file])

  # :erlang.load_nif adds the platform's suffix itself.
  def load_nif do
    :erlang.load_nif(String.to_charlist(Path.rootname(nif_path())), 0)
  end

  def init(_executable, _paths), do: err()
  def submit(_tag, _request, _route, _timeout), do: err()
  def submit_large(_tag, _request, _route, _timeout), do: err()
  def submit_async(_tag, _request, _route, _timeout), do: err()
  def cancel(_job), do: err()
  def thread_stats, do: err()
  def configure_threads(_calls, _streams, _spin_us, _idle_ms), do: err()
  def session_start(_affinity, _owner), do: err()
  def session_start_as(_id, _affinity, _owner), do: err()
  def session_release(_id, _tag), do: err()
  def stream_next_ready(_res), do: err()
  def stream_lookup(_id, _session), do: err()
  def stream_start(_module, _function, _argv, _kwargs, _ctx, _pid, _tag, _opts), do: err()
  def stream_ack(_job, _n), do: err()
  def stream_cancel(_job, _watch), do: err()
  def wire_encode(_term), do: err()
  def wire_decode(_json), do: err()
  def noop, do: err()
  def noop_attached, do: err()
  def stats, do: err()
  def build_python, do: err()
  def set_sink(_pid), do: err()
  def set_output_routing(_on), do: err()
  def callback_reply(_id, _result), do: err()
  def build_map(_id), do: err()
  def remote_handle(_pid, _note), do: err()
  def set_callback_timeout(_ms), do: err()

  defp err, do: :erlang.nif_error(:nif_not_loaded)
end
