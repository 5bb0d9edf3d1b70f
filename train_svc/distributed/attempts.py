"""The attempts of training a job on workers: who may report on them, and what they reported.

Each launch of a job's workers is an attempt with its own number and a fresh random token. The token
goes to the workers only (in their environment when the service launches them; in the job's run
folder, readable by its owner alone, when they are launched elsewhere), and the control stream of
rank 0 must present it, so a process that can read neither cannot speak for a job, and a worker left
from an earlier attempt (a stale one) is refused: its attempt is no longer open.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field

from train_svc.jobs.events import JobError
from train_svc.jobs.job import Job

TOKEN_ENV = "LTX_WORKER_TOKEN"  # where the workers find their attempt's token: never on a command line
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # of a control stream's messages: a preview's event carries its JPEGs


@dataclass(frozen=True)
class WorkerOutcome:
    """What rank 0 said when its workers finished: the steps done, and why the job cannot go on (if so)."""

    steps: int
    error: JobError | None = None


@dataclass
class Attempt:
    job: Job
    number: int
    world_size: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    connected: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)  # rank 0's stream is over
    closed: threading.Event = field(default_factory=threading.Event)  # the service is done with the attempt
    outcome: WorkerOutcome | None = None


class AttemptRefused(Exception):
    """A control stream named no open attempt, the wrong one, or presented the wrong token."""


class Attempts:
    def __init__(self) -> None:
        self._open: dict[str, Attempt] = {}
        self._lock = threading.Lock()

    def open(self, job: Job, number: int, world_size: int) -> Attempt:
        attempt = Attempt(job, number, world_size)
        with self._lock:
            self._open[job.id] = attempt
        return attempt

    def close(self, attempt: Attempt) -> None:
        attempt.closed.set()
        with self._lock:
            if self._open.get(attempt.job.id) is attempt:
                del self._open[attempt.job.id]

    def claim(self, job_id: str, number: int, token: str, world_size: int) -> Attempt:
        """The open attempt a hello names, if the token is its own and the world size the attempt's; it may be
        claimed once."""
        with self._lock:
            attempt = self._open.get(job_id)
            # compare_digest on a stand-in too, so an unknown job takes as long as a wrong token
            expected = attempt.token if attempt is not None else secrets.token_urlsafe(32)
            if not hmac.compare_digest(expected.encode(), token.encode()) or attempt is None:
                raise AttemptRefused("the token is not that of an open attempt of this job")
            if attempt.number != number:
                raise AttemptRefused(f"attempt {number} is over: the job is on attempt {attempt.number}")
            if attempt.world_size != world_size:
                raise AttemptRefused(f"the job trains on {attempt.world_size} ranks; these workers are {world_size}")
            if attempt.connected.is_set():
                raise AttemptRefused(f"attempt {number} of the job already has its control stream")
            attempt.connected.set()
            return attempt
