"""Errors a caller can act on, in plain Python (no grpc): the services' server.py maps them to statuses.

`ErrorCode` names the canonical status codes (google.rpc.Code, same numbers) so the domain layer can
say "failed precondition" without importing grpc; `shared.grpc_util.errors` does the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum


class ErrorCode(Enum):
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class DomainError(Exception):
    """A failure with a status code, a machine-readable reason (UPPER_SNAKE_CASE) and a message for people.

    Example: DomainError(ErrorCode.FAILED_PRECONDITION, "ALL_CLIPS_TOO_SHORT",
                         "All training videos are too short to be trainable", {"min_frames": "89"})
    """

    def __init__(self, code: ErrorCode, reason: str, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata = dict(metadata or {})


@dataclass(frozen=True)
class FieldViolation:
    """One bad field. `field` is an AIP-193 path in the spec's names, e.g. "rank", "validation[1].prompt"."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}" if self.field else self.description


class InvalidRequest(DomainError):
    """The request breaks one or more field rules; `violations` lists every one of them."""

    def __init__(self, violations: Sequence[FieldViolation], reason: str = "INVALID_TRAINING_INPUT") -> None:
        if not violations:
            raise ValueError("InvalidRequest needs at least one violation")
        self.violations = list(violations)
        fields = list(dict.fromkeys(v.field for v in self.violations if v.field))
        count = len(self.violations)
        message = f"invalid request: {count} problem{'s' if count > 1 else ''}"
        if fields:
            message += f" ({', '.join(fields)})"
        super().__init__(ErrorCode.INVALID_ARGUMENT, reason, message, {"fields": ",".join(fields)})
        self.fields = fields

    def __str__(self) -> str:
        return "\n  ".join([self.message, *map(str, self.violations)])


class QuotaExceeded(DomainError):
    """A principal is over one of its quotas: RESOURCE_EXHAUSTED with a google.rpc.QuotaFailure.

    `subject` names who is over it ("principal:alice"), `quota` which one ("queued_jobs").
    """

    def __init__(self, subject: str, quota: str, description: str) -> None:
        super().__init__(ErrorCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED", description, {"quota": quota})
        self.subject = subject
        self.quota = quota
