defmodule SnakeBridge.Native do
  @moduledoc false
  @on_load :load_nif

  def load_nif do
    path = :filename.join(:code.priv_dir(:snakebridge), ~c"native/libsnakebridge_nif")
    :erlang.load_nif(path, 0)
  end

  def init(_executable, _paths), do: err()
  def call(_on, _name, _argv, _kwargs, _ctx, _timeout), do: err()
  def getattr(_on, _name, _ctx), do: err()
  def repr(_res), do: err()
  def len(_res), do: err()
  def iter(_res), do: err()
  def stream_next(_res, _timeout), do: err()
  def stream_next_ready(_res), do: err()
  def stream_next_batch(_res, _max, _timeout), do: err()
  def stream_push_front(_res, _items), do: err()
  def stream_set_batch(_res, _batch), do: err()
  def stream_info(_res), do: err()
  def stream_lookup(_id), do: err()
  def stream_start(_module, _function, _argv, _kwargs, _ctx, _pid, _tag, _opts), do: err()
  def stream_ack(_job, _n), do: err()
  def stream_cancel(_job), do: err()
  def stream_await(_job, _ms), do: err()
  def wire_encode(_term), do: err()
  def wire_decode(_json), do: err()
  def noop, do: err()
  def noop_attached, do: err()
  def stats, do: err()
  def build_python, do: err()

  defp err, do: :erlang.nif_error(:nif_not_loaded)
end
