"""The errors that end a watch stream (WatchTrainingJob, WatchTrainingJobs), each saying how to resume."""

from __future__ import annotations

from shared.request.errors import DomainError, ErrorCode


class WatcherTooSlow(DomainError):
    def __init__(self, name: str, last_sequence: int, timeout: float):
        message = (
            f"the stream of {name} accepted nothing for {timeout:g} s and was cut off so it holds nothing up; "
            f"watch again with after_sequence set to the last sequence received (the server sent up to {last_sequence})"
        )
        super().__init__(
            ErrorCode.RESOURCE_EXHAUSTED, "WATCHER_TOO_SLOW", message, {"name": name, "sent": str(last_sequence)}
        )


class AheadOfLog(DomainError):
    def __init__(self, name: str, after: int, last: int):
        message = (
            f"after_sequence {after} is past the last event of {name} ({last}); events are numbered without "
            "gaps, so this stream is not this job's (or the service lost its newest events): watch from "
            f"after_sequence <= {last}"
        )
        super().__init__(ErrorCode.OUT_OF_RANGE, "AFTER_SEQUENCE_AHEAD", message, {"name": name, "last": str(last)})


class WatchInterrupted(DomainError):
    def __init__(self, name: str, sent: int):
        message = (
            f"the training service is shutting down; {name} resumes when it is back: watch again with "
            "after_sequence set to the last sequence received"
        )
        super().__init__(ErrorCode.UNAVAILABLE, "SHUTTING_DOWN", message, {"name": name, "sent": str(sent)})


class CollectionWatchInterrupted(DomainError):
    def __init__(self, resume_token: str):
        message = (
            "the training service is shutting down: watch again (any replica) with the resume_token of the "
            "last message received"
        )
        super().__init__(ErrorCode.UNAVAILABLE, "SHUTTING_DOWN", message, {"resume_token": resume_token})


class CollectionWatcherTooSlow(DomainError):
    def __init__(self, resume_token: str, timeout: float):
        message = (
            f"the stream of job changes accepted nothing for {timeout:g} s and was cut off so it holds nothing up; "
            "watch again with the resume_token of the last message received"
        )
        super().__init__(ErrorCode.RESOURCE_EXHAUSTED, "WATCHER_TOO_SLOW", message, {"resume_token": resume_token})
