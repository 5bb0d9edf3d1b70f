"""The hostile corpus: what a hostile caller tries, and exactly what it must get back.

Each Case is one attempt (`act`, run against the World of real services) and the one outcome it must
have: a gRPC status code with its ErrorInfo reason, "OK" where the attempt is harmless and must work,
or a reported outcome for what preprocessing does with one file (SKIPPED with its skip reason, IGNORED,
WARNED with a warning code). Cases are grouped in six classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from shared.grpc_util.errors import rpc_error_status

CLASSES = ("requests", "archives", "media", "urls", "metadata", "tenancy")
REPORTED = ("SKIPPED", "IGNORED", "WARNED")  # per-file outcomes of preprocessing, not statuses


@dataclass(frozen=True)
class Outcome:
    code: str  # a grpc.StatusCode name, "OK", or one of REPORTED
    reason: str = ""  # ErrorInfo reason, or the report's / warning's reason
    status_bytes: int = 0  # the serialized google.rpc.Status (0 when there was none)
    message: str = ""

    @classmethod
    def of_error(cls, err: grpc.RpcError) -> Outcome:
        return cls.of_status(rpc_error_status(err))

    @classmethod
    def of_status(cls, status: status_pb2.Status) -> Outcome:
        reason = ""
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
        return cls(grpc.StatusCode(_code(status.code)).name, reason, status.ByteSize(), status.message)


def _code(number: int) -> tuple:
    return next(code.value for code in grpc.StatusCode if code.value[0] == number)


def attempt(call: Callable[[], Any]) -> Outcome:
    """Run one call; OK, or the status it failed with."""
    try:
        result = call()
        if hasattr(result, "__next__"):  # a server stream: read it to the end
            for _ in result:
                pass
    except grpc.RpcError as err:
        return Outcome.of_error(err)
    return Outcome("OK")


@dataclass(frozen=True)
class Case:
    kind: str  # one of CLASSES
    name: str
    code: str  # expected Outcome.code
    reason: str  # expected Outcome.reason ("" when none is sent, e.g. an OK)
    act: Callable[[Any], Outcome]  # given the World
    victim: str = "bob"  # whose objects must come out untouched

    def __post_init__(self) -> None:
        assert self.kind in CLASSES, self.kind


@dataclass
class Corpus:
    cases: list[Case] = field(default_factory=list)

    def add(self, kind: str, name: str, code: str, reason: str, victim: str = "bob"):
        """Decorator: register `act` as a case."""

        def register(act: Callable[[Any], Outcome]) -> Callable[[Any], Outcome]:
            self.cases.append(Case(kind, name, code, reason, act, victim))
            return act

        return register

    def of(self, kind: str) -> list[Case]:
        return [case for case in self.cases if case.kind == kind]


CORPUS = Corpus()
