"""What a job store does, whichever database holds it (train_svc.jobs.sqlite_store, train_svc.jobs.postgres_store).

A job's state, progress, results and dataset report all follow from its events (train_svc.jobs.job), so a
store keeps what cannot be derived: the principal that owns the job, the request as sent, its request_id
(unique per owner), the base model (its name and LTX version), the creation time and number, the events
in sequence order, and, for running it on one of several replicas, the lease and the cancel request. It
also keeps, per job, its current state and last sequence number (written with each event, in the same
transaction) so that pages, claims and quotas never read events.

Leases: a replica runs a job only while it holds the job's lease, taken by `claim` (the oldest claimable
job: resuming ones first, then queued ones, passing over owners at their running quota) and kept by
`renew`. Each claim gives the job a larger fencing token; an event is stored only if its writer's token
is still the job's (`append_event` raises LeaseLost otherwise), so a replica that lost its lease while
asleep cannot write after another one took the job over. Sequence numbers have no gaps: an event is
stored only as the job's next one.

Bases: a replica claims only the jobs on bases it hosts. Each announces the bases it hosts (`announce`,
for a lease, renewed as often as its leases, so a replica that died stops counting when that expires) and claims
with a Hosting: the jobs whose base key (`base_key`: the id in the stored request, and the LTX version)
is one of its own, and, once it has been announcing for a lease, also those whose base no live replica
announces, which it then fails (BASE_MODEL_NOT_HOSTED) rather than leave waiting for nobody. The SQLite
store has one replica, which claims every job.

Changes: every job created, every event stored and every job deleted is also a Change, numbered in
commit order, for collection watches (WatchTrainingJobs) to follow and resume from. The newest
CHANGES_KEPT are kept; a deleted job's earlier changes stay among them (they name only the job and its
owner), so resume positions keep meaning what they meant.

Deletion: `delete` removes an ended job that no replica holds (its row and its events) in one
transaction. Retention's record of what it removed of an ended job's files is an event stored after the
final one, without a lease (`append_to_ended`): only while the job is ended and unheld, and only as its
next event, so sweeps of several replicas at once store it once.

Notices: after every change a store publishes a Notice to the subscribers in this process, for changes
made by any process using the same database (PostgreSQL: LISTEN/NOTIFY on one connection per store).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

import structlog

from shared.request.errors import DomainError, ErrorCode
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import JobState, StateChanged

log = structlog.get_logger(__name__)

FINAL_STATES = tuple(state.value for state in JobState if state.is_final)
UNFINISHED = f"state NOT IN ({', '.join(repr(state) for state in FINAL_STATES)})"  # SQL, in both stores
# a job's columns, in the order StoredJob.of_row reads them (each store's table has them under these names)
JOB_COLUMNS = (
    "id, number, owner, request_id, input_json, base_model, create_time, state, last_sequence, cancel_requested, "
    "base_version"
)
CLAIM_CANDIDATES = 16  # rows a claim looks at (and locks) at once when owners are at their running quota
CHANGES_KEPT = 100_000  # the newest changes kept for collection watches to resume from; older ones go
PRUNE_EVERY = 1_000  # a writer whose change position is a multiple of this prunes the older changes


class StoreError(Exception):
    """The store cannot be opened, is of a schema this version cannot read, or failed."""


class StoreUnavailable(DomainError):
    """The database cannot be reached (or did not answer in time): the call may be retried."""

    def __init__(self, where: str, cause: Exception):
        message = f"the job store {where} cannot be reached ({cause}); retry shortly"
        super().__init__(ErrorCode.UNAVAILABLE, "JOB_STORE_UNAVAILABLE", message)


class LeaseLost(StoreError):
    """The writer's lease on a job is no longer the job's: another replica took it over (or it ended)."""

    def __init__(self, job_id: str, token: int):
        super().__init__(f"the lease on job {job_id} (token {token}) was lost: another replica runs it now")
        self.job_id = job_id


class OutOfSequence(StoreError):
    """An event that is not its job's next one (a bug in the writer: sequence numbers have no gaps)."""

    def __init__(self, job_id: str, sequence: int, last: int):
        super().__init__(f"event {sequence} of job {job_id} is not its next one (its last is {last})")


def check_append(job_id: str, lease: Lease, sequence: int, row: tuple | None) -> None:
    """Raise unless `row` (the job's lease token, holder and last sequence) lets `lease` store event `sequence`."""
    if row is None or (row[0], row[1]) != (lease.token, lease.holder):
        raise LeaseLost(job_id, lease.token)
    if row[2] != sequence - 1:
        raise OutOfSequence(job_id, sequence, row[2])


class QueueFull(StoreError):
    """The owner already has `queued` jobs waiting, its quota."""

    def __init__(self, queued: int):
        super().__init__(f"{queued} job(s) waiting")
        self.queued = queued


class Deletion(Enum):
    DELETED = "DELETED"
    ABSENT = "ABSENT"  # there is no such job (another call deleted it first)
    UNFINISHED = "UNFINISHED"  # it has not ended, or a replica still holds it: nothing was done


@dataclass(frozen=True)
class NewJob:
    id: str
    owner: str  # the principal that creates it
    request_id: str  # "" when the caller gave none
    input_json: dict[str, Any]
    base_model: str  # the name of the base it trains on, as the operator gave it
    create_time: datetime
    base_version: str  # that base's LTX version ("2.3", "2.5")


@dataclass(frozen=True)
class StoredJob:
    id: str
    number: int  # creation order, from 1
    owner: str
    request_id: str
    input_json: dict[str, Any]
    base_model: str
    create_time: datetime
    state: JobState
    last_sequence: int  # the sequence number of its newest event
    cancel_requested: bool
    base_version: str  # its base's LTX version ("2.3" for jobs stored before versions were recorded)

    @classmethod
    def of_row(cls, row: tuple, create_time: datetime) -> StoredJob:
        """The job a row of JOB_COLUMNS holds, with `create_time` as read from its database."""
        id_, number, owner, request_id, input_json, base_model, _, state, last, cancel, version = row
        return cls(
            id_,
            number,
            owner,
            request_id or "",
            json.loads(input_json),
            base_model,
            create_time,
            JobState(state),
            last,
            bool(cancel),
            version,
        )


def base_key(base_id: str, version: str) -> str:
    """A base as claims match it: its id ("" for jobs stored before ids: every replica's default) and LTX
    version."""
    return f"{base_id}@{version}"


@dataclass(frozen=True)
class Hosting:
    """What a replica claims, by base: jobs whose base key is in `keys`; when `unhosted`, also jobs whose
    base no live replica announces."""

    keys: tuple[str, ...]
    unhosted: bool


@dataclass(frozen=True)
class Lease:
    job_id: str
    holder: str  # the replica that claimed it
    token: int  # the fencing token: larger with every claim of the job
    cancel_requested: bool = False  # a cancel was asked for before the claim


class ChangeKind(Enum):
    ADDED = "ADDED"  # the job was created
    MODIFIED = "MODIFIED"  # it got an event
    DELETED = "DELETED"  # it was deleted (sequence: its last event's)


@dataclass(frozen=True)
class Change:
    """One change to a job, numbered in the order changes were committed (positions may skip numbers)."""

    position: int
    job_id: str
    owner: str
    kind: ChangeKind
    sequence: int  # the job's event that made the change


class NoticeKind(Enum):
    EVENT = "event"  # a job got an event (its sequence number is given)
    CLAIMABLE = "claimable"  # a job was queued or a lease released: a replica with a free slot may claim
    CANCEL = "cancel"  # a cancel was asked for a job that a replica holds
    DELETED = "deleted"  # a job was deleted
    RESYNC = "resync"  # notices may have been missed (the listener connected again): re-read what you follow


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    job_id: str
    sequence: int = 0

    def encode(self) -> str:
        return f"{self.kind.value} {self.job_id} {self.sequence}"

    @classmethod
    def decode(cls, text: str) -> Notice:
        kind, job_id, sequence = text.split(" ")
        return cls(NoticeKind(kind), job_id, int(sequence))


class Notices:
    """Fans a store's notices out to the callbacks subscribed in this process (each called on the
    publishing thread; a callback must be quick and must not raise)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[Notice], None]] = []

    def subscribe(self, callback: Callable[[Notice], None]) -> Callable[[], None]:
        with self._lock:
            self._callbacks.append(callback)
        return lambda: self._unsubscribe(callback)

    def _unsubscribe(self, callback: Callable[[Notice], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def publish(self, notice: Notice) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(notice)
            except Exception:  # one broken subscriber must not cost the others their notices
                log.exception("job store notice subscriber failed", notice=notice.encode())


def state_after(logged: LoggedEvent) -> JobState | None:
    """The job's new state if `logged` changes it."""
    return logged.event.state if isinstance(logged.event, StateChanged) else None


class JobStore(Protocol):
    """One contract, two implementations; tests/training/test_store_contract.py holds both to it."""

    notices: Notices

    def add_job(self, job: NewJob, first: LoggedEvent, queued_limit: int | None) -> tuple[StoredJob, bool]:
        """Store a new job with its first event (sequence 1); (the job, True). If the owner already used
        the job's request_id: (that job, False), nothing stored. QueueFull if the owner already has
        `queued_limit` jobs QUEUED."""
        ...

    def job(self, job_id: str) -> StoredJob | None: ...

    def find_request(self, owner: str, request_id: str) -> StoredJob | None:
        """The owner's job made with `request_id`."""
        ...

    def page(self, owner: str | None, before: int | None, limit: int) -> list[StoredJob]:
        """Up to `limit` jobs of `owner` (None: everyone's) numbered below `before`, newest first."""
        ...

    def job_ids(self, owner: str) -> list[str]: ...

    def state_counts(self) -> dict[JobState, int]:
        """How many stored jobs are in each state (states without a job left out): one cheap query."""
        ...

    def events(self, job_id: str, after: int = 0, limit: int | None = None) -> list[LoggedEvent]:
        """The job's events numbered above `after`, in order (at most `limit`)."""
        ...

    def append_event(self, job_id: str, logged: LoggedEvent, lease: Lease) -> None:
        """Store the job's next event; LeaseLost unless `lease` is still the job's (nothing is stored)."""
        ...

    def announce(self, holder: str, keys: tuple[str, ...], ttl_seconds: float) -> None:
        """Tell the replicas sharing the store that `holder` hosts the bases `keys` (base_key), for
        `ttl_seconds` from now."""
        ...

    def withdraw(self, holder: str) -> None:
        """End `holder`'s announcement (the replica is stopping)."""
        ...

    def claim(
        self, holder: str, lease_seconds: float, running_limit: int | None, hosting: Hosting | None = None
    ) -> Lease | None:
        """Take the lease on the oldest claimable job (unfinished, with no live lease, on a base `hosting`
        admits (None: any); resuming ones before queued ones; none of an owner with `running_limit` live
        leases); None when there is none."""
        ...

    def renew(self, lease: Lease, lease_seconds: float) -> bool | None:
        """Extend a lease; None when it was lost, else whether a cancel was asked for the job."""
        ...

    def release(self, lease: Lease) -> None:
        """End a lease (the job stays as its events left it: another replica may claim it if unfinished)."""
        ...

    def changes(self, after: int, owner: str | None, limit: int) -> list[Change]:
        """Up to `limit` changes after position `after` to `owner`'s jobs (None: everyone's), in order."""
        ...

    def change_bounds(self) -> tuple[int, int]:
        """(the position before the oldest change kept, the newest position): a watch can resume after any
        position from the first to the second."""
        ...

    def cancel(self, job_id: str, event: StateChanged, at: datetime) -> bool:
        """Cancel a job: if no replica holds it (no live lease) and it is not finished, store `event` as
        its next one now and return True; otherwise mark the cancel asked for (the holder ends the job)
        and return False."""
        ...

    def delete(self, job_id: str) -> Deletion:
        """Delete an ended job that no replica holds, with its events, recording a DELETED change."""
        ...

    def append_to_ended(self, job_id: str, logged: LoggedEvent) -> bool:
        """Store `logged` on an ended job that no replica holds, if it is the job's next event; False (nothing
        stored) when the job is gone, not ended, held, or has another event at that sequence."""
        ...

    def close(self) -> None: ...
