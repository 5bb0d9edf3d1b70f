"""Counts every RPC a server handles and times it, by method and the status code it ended with.

It runs outermost (before authentication), so refused calls are counted too. The code is the one the
call ended with: OK when the handler returned, the aborted code when it (or an interceptor inside this
one, such as the error mapping) aborted, CANCELLED when the caller went away, UNKNOWN for an exception
that escaped every other interceptor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc

from shared.grpc_util.handler_wrapping import OnEnd, WrappingInterceptor, around_behavior
from shared.metrics.rpc import RpcMetrics


def code_name(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The name of the gRPC status code a call ended with, given what its handler raised (`error`)."""
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return grpc.StatusCode.CANCELLED.name
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):  # grpc.aio keeps the number a handler set with set_code / abort
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN.name)
    if error is None:
        return grpc.StatusCode.OK.name
    return grpc.StatusCode.UNKNOWN.name


class MetricsInterceptor(WrappingInterceptor):
    def __init__(self, metrics: RpcMetrics):
        self._metrics = metrics

    def wrap(self, behavior: Callable, method: str, handler: grpc.RpcMethodHandler) -> Callable:
        metrics = self._metrics

        @contextmanager
        def timed(context: grpc.aio.ServicerContext) -> Iterator[OnEnd]:
            started = time.perf_counter()
            yield lambda error: metrics.observe(method, code_name(context, error), time.perf_counter() - started)

        return around_behavior(behavior, timed)
