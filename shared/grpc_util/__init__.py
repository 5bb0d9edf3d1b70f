"""gRPC plumbing both services share: rich error statuses (AIP-193) and server start/stop."""

from shared.grpc_util.errors import (
    ERROR_DOMAIN,
    ErrorMappingInterceptor,
    describe_rpc_error,
    describe_status,
    domain_status_proto,
    error_details,
    rpc_error_status,
    status_for,
    status_proto,
)
from shared.grpc_util.server import RunningServer, start_server, stop_server

__all__ = [
    "ERROR_DOMAIN",
    "ErrorMappingInterceptor",
    "RunningServer",
    "describe_rpc_error",
    "describe_status",
    "domain_status_proto",
    "error_details",
    "rpc_error_status",
    "start_server",
    "stop_server",
    "status_for",
    "status_proto",
]
