"""Every gRPC status the CLI can meet maps to one of its documented exit codes."""

from __future__ import annotations

import grpc
import pytest

from train_svc.cli.exit_codes import ExitCode, exit_code

REFUSED = ["INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "OUT_OF_RANGE"]
REFUSED += ["PERMISSION_DENIED", "UNAUTHENTICATED", "RESOURCE_EXHAUSTED"]


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda code: code.name)
def test_each_status_has_its_exit_code(code):
    if code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        expected = ExitCode.UNREACHABLE
    elif code.name in REFUSED:
        expected = ExitCode.REFUSED
    else:  # INTERNAL, UNKNOWN, CANCELLED, ABORTED, DATA_LOSS, UNIMPLEMENTED (and OK, never an error)
        expected = ExitCode.FAILED
    assert exit_code(code) is expected
    assert (int(ExitCode.OK), int(ExitCode.FAILED), int(ExitCode.REFUSED), int(ExitCode.UNREACHABLE)) == (0, 1, 2, 3)
