defmodule SnakeBridge.Request do
  @moduledoc false
  # The operations a library thread runs for a caller, built here and decoded in one
  # place by the NIF (`ops::Request`, a tagged enum): `{:call, on, name, args, kwargs,
  # ctx}` and so on. `object/1` and `context/1` are what routing to a pool worker reads.

  alias SnakeBridge.Context

  @type resource :: reference()
  @type t ::
          :noop
          | {:call, String.t() | resource(), String.t(), list(), list(), Context.t()}
          | {:next, resource()}
          | {:next_batch, resource(), non_neg_integer()}
          | {:getattr, String.t() | resource(), String.t(), Context.t()}
          | {:setattr, resource(), [term()], Context.t()}
          | {:repr | :len | :iter | :info, resource()}
          | {:push_front, resource(), [term()]}
          | {:set_batch, resource(), pos_integer()}
          | {:session_release, String.t()}
          | {:eval | :reload | :run_atexit | :end_children, [term()], Context.t()}

  def noop, do: :noop

  def call(on, function, args, kwargs, %Context{} = ctx),
    do: {:call, on, function, args, kwargs, ctx}

  def next(res), do: {:next, res}
  def next_batch(res, max), do: {:next_batch, res, max}
  def getattr(on, name, %Context{} = ctx), do: {:getattr, on, name, ctx}
  def setattr(res, name, value, %Context{} = ctx), do: {:setattr, res, [name, value], ctx}
  def repr(res), do: {:repr, res}
  def len(res), do: {:len, res}
  def iter(res), do: {:iter, res}
  def info(res), do: {:info, res}
  def push_front(res, items), do: {:push_front, res, items}
  def set_batch(res, n), do: {:set_batch, res, n}
  def session_release(id), do: {:session_release, id}
  def eval(code, scope, %Context{} = ctx), do: {:eval, [code, scope], ctx}
  def reload(module, %Context{} = ctx), do: {:reload, [module], ctx}
  def run_atexit(%Context{} = ctx), do: {:run_atexit, [], ctx}
  def end_children(grace_s, %Context{} = ctx), do: {:end_children, [grace_s], ctx}

  @doc false
  # What the request works on: a resource, a module name, or nil.
  @spec object(t()) :: term()
  def object(request) when is_tuple(request) and tuple_size(request) > 1, do: elem(request, 1)
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
