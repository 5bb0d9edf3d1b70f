"""Rich gRPC errors per AIP-193: domain errors -> google.rpc.Status on servers, back to text on clients.

Every error status carries a google.rpc.ErrorInfo (reason, domain "ltx-trainer.v1", metadata); an
InvalidRequest also carries one google.rpc.BadRequest with a FieldViolation per bad field, a
QuotaExceeded a google.rpc.QuotaFailure. A whole status (message and details) stays under
MAX_STATUS_BYTES, what proxies and clients accept in trailers: texts are cut, and field violations past
the budget are summed up in a last one.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import grpc
import structlog
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from shared.api.error_info import ERROR_DOMAIN
from shared.grpc_util.handler_wrapping import WrappingInterceptor
from shared.quoting import clip
from shared.request.errors import DomainError, InvalidRequest, QuotaExceeded

INTERNAL_REASON = "INTERNAL_ERROR"
_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}

MAX_STATUS_BYTES = 4000  # under 4 KiB with the framing around it
_MESSAGE_CHARS = 1000
_METADATA_CHARS = 500
_VIOLATION_CHARS = 300

log = structlog.get_logger(__name__)


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _bounded_details(details: Sequence[Message], budget: int) -> list[Message]:
    """`details` with their texts cut, and a BadRequest's violations past `budget` bytes summed up."""
    out: list[Message] = []
    for detail in details:
        if isinstance(detail, error_details_pb2.BadRequest):
            kept = error_details_pb2.BadRequest()
            violations = detail.field_violations
            for index, violation in enumerate(violations):
                entry = error_details_pb2.BadRequest.FieldViolation(
                    field=clip(violation.field, 120), description=clip(violation.description, _VIOLATION_CHARS)
                )
                if kept.ByteSize() + entry.ByteSize() > budget - 100:
                    rest = len(violations) - index
                    kept.field_violations.add(description=f"... and {rest} more problem(s) not listed")
                    break
                kept.field_violations.append(entry)
            detail = kept
        elif isinstance(detail, error_details_pb2.QuotaFailure):
            detail = error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=clip(v.subject, 200), description=clip(v.description, _VIOLATION_CHARS)
                    )
                    for v in detail.violations[:5]
                ]
            )
        out.append(detail)
    return out


def status_proto(
    code: grpc.StatusCode,
    reason: str,
    message: str,
    metadata: Mapping[str, str] | None = None,
    details: Sequence[Message] = (),
) -> status_pb2.Status:
    """A google.rpc.Status with an ErrorInfo first, then `details` (e.g. a BadRequest), under MAX_STATUS_BYTES."""
    bounded = {key: clip(value, _METADATA_CHARS) for key, value in (metadata or {}).items()}
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=bounded)
    status = status_pb2.Status(code=code.value[0], message=clip(message, _MESSAGE_CHARS), details=[_pack(info)])
    budget = MAX_STATUS_BYTES - status.ByteSize()
    status.details.extend(_pack(detail) for detail in _bounded_details(details, budget))
    return status


def status_for(
    code: grpc.StatusCode, reason: str, message: str, metadata: Mapping[str, str] | None = None
) -> grpc.Status:
    """A grpc.Status for `context.abort_with_status`.

    Example: status_for(grpc.StatusCode.FAILED_PRECONDITION, "MIXED_MEDIA", "the archive mixes ...")
    """
    return rpc_status.to_status(status_proto(code, reason, message, metadata))


def domain_status_proto(err: DomainError) -> status_pb2.Status:
    """The google.rpc.Status for a domain error (also what a failed TrainingJob stores in `error`)."""
    details: list[Message] = []
    if isinstance(err, InvalidRequest):
        violations = [
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in err.violations
        ]
        details.append(error_details_pb2.BadRequest(field_violations=violations))
    if isinstance(err, QuotaExceeded):
        violation = error_details_pb2.QuotaFailure.Violation(subject=err.subject, description=err.message)
        details.append(error_details_pb2.QuotaFailure(violations=[violation]))
    return status_proto(grpc.StatusCode[err.code.name], str(err.reason), err.message, err.metadata, details)


class ErrorMappingInterceptor(WrappingInterceptor):
    """Ends an RPC whose handler raised with a rich status instead of letting the exception escape.

    DomainError (InvalidRequest included) -> its own code with ErrorInfo (+ BadRequest); any other
    exception -> INTERNAL with an error id, the traceback going to the log only. Handlers that call
    context.abort themselves are left alone. Handlers are `async def`: coroutines (unary, or streaming
    through context.write) or async generators (streaming).
    """

    def wrap(self, behavior: Callable, method: str, handler: grpc.RpcMethodHandler) -> Callable:
        return _guard(behavior, method)


def _guard(behavior: Callable, method: str) -> Callable:
    if inspect.isasyncgenfunction(behavior):

        async def guarded_stream(request: Any, context: grpc.aio.ServicerContext):
            try:
                async for response in behavior(request, context):
                    yield response
            except Exception as exc:
                await _abort(context, exc, method)

        return guarded_stream

    async def guarded(request: Any, context: grpc.aio.ServicerContext):
        try:
            return await behavior(request, context)
        except Exception as exc:
            await _abort(context, exc, method)

    return guarded


async def _abort(context: grpc.aio.ServicerContext, exc: Exception, method: str) -> None:
    if isinstance(exc, grpc.aio.AbortError):  # the handler already chose its status
        raise exc
    if isinstance(exc, DomainError):
        log.info("rpc_failed", method=method, code=exc.code.name, reason=exc.reason, message=exc.message)
        status = domain_status_proto(exc)
    else:
        error_id = uuid.uuid4().hex[:12]
        log.exception("rpc_crashed", method=method, error_id=error_id)
        message = f"internal error (id {error_id}); the details are in the server log"
        status = status_proto(grpc.StatusCode.INTERNAL, INTERNAL_REASON, message, {"error_id": error_id})
    await context.abort_with_status(rpc_status.to_status(status))


def rpc_error_status(err: grpc.RpcError) -> status_pb2.Status:
    """The google.rpc.Status behind a failed call: the rich one if the server sent it, else code + details."""
    # Key-value pairs at run time (aio's Metadata, or the sync call's namedtuples); the grpc stubs'
    # _Metadatum has no __iter__.
    metadata = cast(Iterable[tuple[str, str | bytes]], err.trailing_metadata() or ())
    for key, value in metadata:
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                break
    return status_pb2.Status(code=err.code().value[0], message=err.details() or "")


def error_details(
    err: grpc.RpcError,
) -> tuple[error_details_pb2.BadRequest | None, error_details_pb2.ErrorInfo | None]:
    """The BadRequest and ErrorInfo of a failed call, each None when the server did not send one."""
    return _unpack_details(rpc_error_status(err))


def describe_status(status: status_pb2.Status) -> str:
    """Readable text for a google.rpc.Status: code and message, reason, then one line per bad field."""
    lines = [f"{_CODE_NAMES.get(status.code, status.code)}: {status.message}"]
    bad_request, info = _unpack_details(status)
    if info is not None:
        extra = "".join(f", {key}={value}" for key, value in sorted(info.metadata.items()) if key != "fields")
        lines.append(f"  reason: {info.reason} ({info.domain}{extra})")
    if bad_request is not None:
        lines += [f"  {v.field or '<request>'}: {v.description}" for v in bad_request.field_violations]
    return "\n".join(lines)


def describe_rpc_error(err: grpc.RpcError) -> str:
    """Readable text for a failed call, as the CLI prints it."""
    return describe_status(rpc_error_status(err))


def _unpack_details(
    status: status_pb2.Status,
) -> tuple[error_details_pb2.BadRequest | None, error_details_pb2.ErrorInfo | None]:
    bad_request = info = None
    for detail in status.details:
        if bad_request is None and detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
        elif info is None and detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
    return bad_request, info
