"""The google.rpc.ErrorInfo that every error of this API carries (AIP-193), in a status or in a message.

Here rather than in shared.grpc_util.errors so that the message codecs of shared.api need no grpc.
"""

from __future__ import annotations

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

ERROR_DOMAIN = "ltx-trainer.v1"


def packed_error_info(reason: str, metadata: dict[str, str] | None = None) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata or {}))
    return packed


def invalid_argument(reason: str, message: str) -> status_pb2.Status:
    """An INVALID_ARGUMENT status with its ErrorInfo, for a message field (no size limit applies there)."""
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[packed_error_info(reason)])


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo | None:
    """The status's first ErrorInfo, None when it has none."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None
