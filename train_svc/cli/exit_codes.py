"""The CLI's exit codes, and the one mapping from a gRPC status to them.

0 success; 1 the job or generation failed or was cancelled, or its outputs could not be fetched;
2 the service (or the CLI itself) refused the request: invalid, not found, not allowed, over quota,
or not in a state to do it; 3 the service could not be reached in time.
"""

from __future__ import annotations

from enum import IntEnum

import grpc


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    REFUSED = 2
    UNREACHABLE = 3


_UNREACHABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_REFUSED = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def exit_code(code: grpc.StatusCode) -> ExitCode:
    """What the CLI exits with when a call ends with `code` (any other code: FAILED)."""
    if code in _UNREACHABLE:
        return ExitCode.UNREACHABLE
    if code in _REFUSED:
        return ExitCode.REFUSED
    return ExitCode.FAILED
