"""Counts every RPC a server handles and times it, by method and the status code it ended with.

It runs outermost (before authentication), so refused calls are counted too. The code is the one the
call ended with: OK when the handler returned, the aborted code when it (or an interceptor inside this
one, such as the error mapping) aborted, CANCELLED when the caller went away, UNKNOWN for an exception
that escaped every other interceptor.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

import grpc

from shared.grpc_util.handler_wrapping import WrappingInterceptor
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
        if inspect.isasyncgenfunction(behavior):

            async def timed_stream(request: Any, context: grpc.aio.ServicerContext):
                started, error = time.perf_counter(), None
                try:
                    async for response in behavior(request, context):
                        yield response
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    metrics.observe(method, code_name(context, error), time.perf_counter() - started)

            return timed_stream

        async def timed(request: Any, context: grpc.aio.ServicerContext):
            started, error = time.perf_counter(), None
            try:
                return await behavior(request, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                metrics.observe(method, code_name(context, error), time.perf_counter() - started)

        return timed
