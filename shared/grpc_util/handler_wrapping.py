"""Rebuilding a gRPC method handler around a wrapped behaviour: what every server interceptor here does."""

from __future__ import annotations

from collections.abc import Callable

import grpc

Behavior = Callable
Wrap = Callable[[Behavior], Behavior]


def wrapped_handler(handler: grpc.RpcMethodHandler, wrap: Wrap) -> grpc.RpcMethodHandler:
    """`handler` with its behaviour (whatever its streaming kind) replaced by `wrap(behaviour)`."""
    if handler.request_streaming and handler.response_streaming:
        make, behavior = grpc.stream_stream_rpc_method_handler, handler.stream_stream
    elif handler.request_streaming:
        make, behavior = grpc.stream_unary_rpc_method_handler, handler.stream_unary
    elif handler.response_streaming:
        make, behavior = grpc.unary_stream_rpc_method_handler, handler.unary_stream
    else:
        make, behavior = grpc.unary_unary_rpc_method_handler, handler.unary_unary
    return make(
        wrap(behavior),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
