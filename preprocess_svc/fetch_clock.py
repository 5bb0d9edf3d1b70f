"""The overall deadline and the cancel event of one archive fetch, consulted before every step of it."""

from __future__ import annotations

import threading
import time

from preprocess_svc.errors import FetchCancelled


class DeadlineExceeded(Exception):
    """The fetch as a whole ran past its deadline."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__(f"the fetch ran past its deadline of {deadline_s:g} s")
        self.deadline_s = deadline_s


class FetchClock:
    def __init__(self, deadline_s: float, cancel: threading.Event | None) -> None:
        self.deadline_s = deadline_s
        self._ends_at = time.monotonic() + deadline_s
        self._cancel = cancel

    def time_left(self) -> float:
        """Seconds before the deadline; raises FetchCancelled once cancel is set, DeadlineExceeded once time is up."""
        if self._cancel is not None and self._cancel.is_set():
            raise FetchCancelled("the archive fetch was cancelled")
        left = self._ends_at - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(self.deadline_s)
        return left
