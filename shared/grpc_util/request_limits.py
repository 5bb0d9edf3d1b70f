"""Checks every incoming request message before its handler sees it.

- A message that cannot be decoded (bad wire format, a string that is not UTF-8) ends the call
  INVALID_ARGUMENT, reason UNDECODABLE_REQUEST, instead of gRPC's own INTERNAL.
- A field over its maximum (shared.request.field_limits) ends it INVALID_ARGUMENT, reason FIELD_TOO_LONG,
  with a BadRequest naming each such field. Streamed requests are checked message by message. A
  TrainingInput is left to the training request's own rules (shared.request.validate), which include
  the same maximums and report them with every other problem of the request at once.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from shared.grpc_util.handler_wrapping import WrappingInterceptor, rebuilt_handler
from shared.request.errors import DomainError, ErrorCode, InvalidRequest
from shared.request.field_limits import length_violations

FIELD_TOO_LONG = "FIELD_TOO_LONG"
SELF_CHECKED = frozenset({"ltx.trainer.v1.TrainingInput"})


@dataclass(frozen=True)
class _Undecodable:
    error: str


class UndecodableRequest(DomainError):
    def __init__(self, error: str):
        message = f"the request message cannot be decoded ({error[:200]}); strings must be valid UTF-8"
        super().__init__(ErrorCode.INVALID_ARGUMENT, "UNDECODABLE_REQUEST", message)


def _checked(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise UndecodableRequest(request.error)
    if violations := length_violations(request, skip=SELF_CHECKED):
        raise InvalidRequest(violations, reason=FIELD_TOO_LONG)
    return request


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _checked(request)


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, UnicodeDecodeError, ValueError) as exc:
            return _Undecodable(str(exc))

    return deserialize


def _guard(behavior: Callable, request_streaming: bool) -> Callable:
    def request_of(request: Any) -> Any:
        return _checked_stream(request) if request_streaming else _checked(request)

    if inspect.isasyncgenfunction(behavior):

        async def guarded_stream(request: Any, context: grpc.aio.ServicerContext):
            async for response in behavior(request_of(request), context):
                yield response

        return guarded_stream

    async def guarded(request: Any, context: grpc.aio.ServicerContext):
        return await behavior(request_of(request), context)

    return guarded


class RequestLimitsInterceptor(WrappingInterceptor):
    def leaves_alone(self, method: str) -> bool:
        return method.startswith("/grpc.")  # health and reflection

    def wrap(self, behavior: Callable, method: str, handler: grpc.RpcMethodHandler) -> Callable:
        return _guard(behavior, handler.request_streaming)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        wrapped = await super().intercept_service(continuation, handler_call_details)
        if wrapped is None or self.leaves_alone(handler_call_details.method):
            return wrapped
        return rebuilt_handler(wrapped, lambda behavior: behavior, _tolerant(wrapped.request_deserializer))
