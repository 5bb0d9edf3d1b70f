"""When a Preprocess stream breaks, ask again (any preprocessor replica) and take only what is new.

A stream that ends UNAVAILABLE (the preprocessor's pod was killed or rescheduled, or it is shutting down)
or with a transport error that carries no error details (a broken connection, not the preprocessor's
verdict) is re-issued after a backoff, up to `attempts` calls in all. The preprocessor's content-keyed
cache makes the new call cheap for what was done before, and `Replay` drops every event the job has
already taken (bundles by sample id, file reports and skips by file, progress by files done), so nothing
is redone on this side or recorded twice. Any other error, or the last attempt's, fails the job.
"""

from __future__ import annotations

from collections.abc import Hashable

import grpc

from shared.bundle_ref import BundleRef
from shared.dataset_report import FileReport
from shared.grpc_util.errors import error_details
from train_svc.jobs.events import DatasetProgress, DatasetReady, PreprocessEvent, SkippedFile

FIRST_WAIT_S = 0.5
LONGEST_WAIT_S = 8.0
LOST_CODE = "PREPROCESSOR_LOST"  # the warning recorded on the job for each re-issued call


def retryable(err: grpc.RpcError) -> bool:
    code = err.code()
    if code is grpc.StatusCode.UNAVAILABLE:
        return True
    return code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) and error_details(err)[1] is None


def backoff(attempt: int) -> float:
    """Seconds to wait before call number `attempt` + 1."""
    return min(FIRST_WAIT_S * 2 ** (attempt - 1), LONGEST_WAIT_S)


def _key(event: PreprocessEvent) -> Hashable:
    if isinstance(event, BundleRef):
        return ("bundle", event.sample_id)
    if isinstance(event, FileReport):
        return ("file", event.path)
    if isinstance(event, SkippedFile):
        return ("skipped", event.path, event.reason)
    if isinstance(event, DatasetReady):
        return ("ready",)
    return event  # a warning: a repeat is an equal one


class Replay:
    """The events a job has taken from its preprocessing calls so far."""

    def __init__(self) -> None:
        self._keys: set[Hashable] = set()
        self._files_done = -1

    def has_bundle(self, sample_id: str) -> bool:
        return ("bundle", sample_id) in self._keys

    def fresh(self, event: PreprocessEvent) -> bool:
        """Whether `event` is new to the job (and note it)."""
        if isinstance(event, DatasetProgress):
            if event.files_done <= self._files_done:
                return False
            self._files_done = event.files_done
            return True
        key = _key(event)
        if key in self._keys:
            return False
        self._keys.add(key)
        return True
