"""Rebuilding a gRPC method handler around a wrapped behaviour: what every server interceptor here does."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import grpc

Behavior = Callable
Wrap = Callable[[Behavior], Behavior]
OnEnd = Callable[[BaseException | None], None]
# Entered as a call starts, with the call's context; what it yields is called as the call ends.
Around = Callable[[grpc.aio.ServicerContext], AbstractContextManager[OnEnd]]


def around_behavior(behavior: Behavior, around: Around) -> Behavior:
    """`behavior` (a coroutine function, or an async generator function for a response stream) run inside
    `around(context)`; the callback it yields gets what the call raised (None when it ended normally), for a
    stream once its last response is sent or it fails, before `around` exits."""
    if inspect.isasyncgenfunction(behavior):

        async def streaming(request: Any, context: grpc.aio.ServicerContext):
            with around(context) as on_end:
                error = None
                try:
                    async for response in behavior(request, context):
                        yield response
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    on_end(error)

        return streaming

    async def unary(request: Any, context: grpc.aio.ServicerContext):
        with around(context) as on_end:
            error = None
            try:
                return await behavior(request, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                on_end(error)

    return unary


def wrapped_handler(handler: grpc.RpcMethodHandler, wrap: Wrap) -> grpc.RpcMethodHandler:
    """`handler` with its behaviour (whatever its streaming kind) replaced by `wrap(behaviour)`."""
    return rebuilt_handler(handler, wrap, handler.request_deserializer)


def rebuilt_handler(
    handler: grpc.RpcMethodHandler, wrap: Wrap, request_deserializer: Callable[[bytes], Any] | None
) -> grpc.RpcMethodHandler:
    """`handler` with its behaviour replaced by `wrap(behaviour)` and its request deserializer by the one given."""
    if handler.request_streaming and handler.response_streaming:
        make, behavior = grpc.stream_stream_rpc_method_handler, handler.stream_stream
    elif handler.request_streaming:
        make, behavior = grpc.stream_unary_rpc_method_handler, handler.stream_unary
    elif handler.response_streaming:
        make, behavior = grpc.unary_stream_rpc_method_handler, handler.unary_stream
    else:
        make, behavior = grpc.unary_unary_rpc_method_handler, handler.unary_unary
    if behavior is None:
        raise ValueError("the method handler has no behaviour for its own streaming kind")
    return make(
        wrap(behavior),
        request_deserializer=request_deserializer,
        response_serializer=handler.response_serializer,
    )


class WrappingInterceptor(grpc.aio.ServerInterceptor, abc.ABC):
    """A server interceptor that wraps the behaviour of every method it does not leave alone."""

    def leaves_alone(self, method: str) -> bool:
        """Methods passed on as they are (e.g. health and reflection)."""
        return False

    @abc.abstractmethod
    def wrap(self, behavior: Behavior, method: str, handler: grpc.RpcMethodHandler) -> Behavior:
        """The behaviour to run in place of `behavior` for `method`."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or self.leaves_alone(method):
            return handler
        return wrapped_handler(handler, lambda behavior: self.wrap(behavior, method, handler))
