defmodule SnakeBridge.Context do
  @moduledoc false
  # Where a call's objects belong: copied into every Ref and StreamRef its answer makes,
  # and decoded by the NIF (`objects::Ctx`) from this struct.

  # The session of work outside any session (the NIF's `session::DEFAULT`).
  @default_session "default"

  # `arrays`: numeric buffers in the answer become %SnakeBridge.Array{} (`__runtime__:
  # [arrays: true]`; `:strict` for SnakeBridge.Array.from_ref/2, where anything else is an
  # error).
  defstruct session_id: @default_session, pool: nil, library: "snakebridge", arrays: false

  @type t :: %__MODULE__{
          session_id: String.t(),
          pool: atom() | nil,
          library: String.t(),
          arrays: boolean() | :strict
        }

  @doc false
  @spec default_session() :: String.t()
  def default_session, do: @default_session

  @doc false
  # The context an existing object's refs carry.
  @spec of(SnakeBridge.Ref.t() | SnakeBridge.StreamRef.t()) :: t()
  def of(ref),
    do: %__MODULE__{session_id: ref.session_id, pool: ref.pool_name, library: ref.library}
end
