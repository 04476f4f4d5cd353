defmodule SnakeBridge.Request do
  @moduledoc false
  # The operations a library thread runs for a caller, built here and decoded in one
  # place by the NIF (`ops::Request`, a tagged enum): `{:call, on, name, args, kwargs,
  # ctx}` and so on. `object/1`, `context/1` and `arguments/1` are what routing to a pool
  # worker reads.

  alias SnakeBridge.Context

  @type object :: reference() | SnakeBridge.Ref.t() | SnakeBridge.StreamRef.t()
  @type t ::
          :noop
          | {:call, String.t() | object(), String.t(), list(), list(), Context.t()}
          | {:next, object()}
          | {:next_batch, object(), non_neg_integer()}
          | {:getattr, String.t() | object(), String.t(), Context.t()}
          | {:setattr, object(), [term()], Context.t()}
          | {:repr | :len | :iter | :info, object()}
          | {:push_front, object(), [term()]}
          | {:set_batch, object(), pos_integer()}
          | {:eval | :reload | :run_atexit | :end_children, [term()], Context.t()}

  # `ref` is a Ref or StreamRef; `on` may be a module name too.
  def noop, do: :noop

  def call(on, function, args, kwargs, %Context{} = ctx),
    do: {:call, obj(on), function, args, kwargs, ctx}

  def next(ref), do: {:next, obj(ref)}
  def next_batch(ref, max), do: {:next_batch, obj(ref), max}
  def getattr(on, name, %Context{} = ctx), do: {:getattr, obj(on), name, ctx}
  def setattr(ref, name, value, %Context{} = ctx), do: {:setattr, obj(ref), [name, value], ctx}
  def repr(ref), do: {:repr, obj(ref)}
  def len(ref), do: {:len, obj(ref)}
  def iter(ref), do: {:iter, obj(ref)}
  def info(ref), do: {:info, obj(ref)}
  def push_front(ref, items), do: {:push_front, obj(ref), items}
  def set_batch(ref, n), do: {:set_batch, obj(ref), n}
  def eval(code, scope, %Context{} = ctx), do: {:eval, [code, scope], ctx}
  def reload(module, %Context{} = ctx), do: {:reload, [module], ctx}
  def run_atexit(%Context{} = ctx), do: {:run_atexit, [], ctx}
  def end_children(grace_s, %Context{} = ctx), do: {:end_children, [grace_s], ctx}

  # An object of this node travels as its resource (the NIF holds it for the job); one of
  # a pool worker as its whole ref, whose handle keeps it alive on the worker for as long
  # as the request is held (SnakeBridge.Pool.Remote.call holds it until the answer).
  defp obj(%{resource: r}) when is_reference(r) and node(r) == node(), do: r
  defp obj(%{resource: r} = ref) when is_reference(r), do: ref
  defp obj(other), do: other

  @doc false
  # The resource or module name the request works on, or nil.
  @spec object(t()) :: term()
  def object(request) when is_tuple(request) and tuple_size(request) > 1 do
    case elem(request, 1) do
      %{resource: r} -> r
      other -> other
    end
  end

  def object(_), do: nil

  @doc false
  # The context of a request that makes objects, or nil.
  @spec context(t()) :: Context.t() | nil
  def context(request) when is_tuple(request) do
    case elem(request, tuple_size(request) - 1) do
      %Context{} = ctx -> ctx
      _ -> nil
    end
  end

  def context(_), do: nil

  @doc false
  # The arguments after the object (where refs of other nodes may sit).
  @spec arguments(t()) :: [term()]
  def arguments(request) when is_tuple(request) and tuple_size(request) > 2,
    do: request |> Tuple.to_list() |> Enum.drop(2)

  def arguments(_), do: []
end
