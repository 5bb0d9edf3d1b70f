"""The jobs, as one replica serves them: each job belongs to the principal that created it, and jobs run
in FIFO order, each holding an accelerator slot while it runs.

Every lookup names the caller: another principal's job is NOT_FOUND to it (admins see every job), and
request_id idempotency holds per principal. Per-principal quotas (train_svc.jobs.quotas) bound how many
of a principal's jobs wait and run: a claim takes the oldest queued job whose owner is under its running
quota, so one tenant's backlog never holds up another's.

The job store holds every job and event (train_svc.jobs.store_contract), so any replica answers for any
job and a restart loses none: jobs that were running are claimed first (in creation order), then the
queued ones (train_svc.jobs.claims). Calls are answered from views of the stored events
(train_svc.jobs.views), also for jobs this replica runs: what a call shows is what the store holds, so a
watcher that saw an event never gets an older job from Get. Watchers follow feeds (train_svc.jobs.feeds).
Deleting (`delete`) removes an ended job's record; a forced delete cancels a running job first (the
cancel reaches whichever replica holds it) and deletes it once that replica has let it go.
Shutting down (`refuse_new_jobs`, then `stop_jobs`) refuses new jobs, asks running ones to stop at
their next step boundary (they checkpoint and their leases go, to resume here or on another replica)
and waits for them up to a deadline. Job threads are daemons, so a job that cannot stop in time never
holds the process up.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from shared.auth import Caller
from shared.quoting import quote
from shared.request.errors import DomainError, ErrorCode, QuotaExceeded
from shared.tracing.context import current_trace_parent
from train_svc.accelerator import AcceleratorSlots
from train_svc.jobs.change_feed import ChangeFeed
from train_svc.jobs.claims import ClaimSettings, JobClaims
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import JobState, StateChanged
from train_svc.jobs.feeds import JobFeeds
from train_svc.jobs.job import NAME_PREFIX, Job
from train_svc.jobs.listing import Page, page_of, page_request
from train_svc.jobs.quotas import Quotas
from train_svc.jobs.store_contract import Change, Deletion, JobStore, NewJob, QueueFull, StoredJob, base_key
from train_svc.jobs.views import JobViews, SettingsOf
from train_svc.models.base_registry import BaseModels

log = structlog.get_logger(__name__)

EVERY_JOB_PAGE = 200  # jobs read from the store at once when every job is listed
DELETE_POLL_SECONDS = 0.5  # a forced delete looks again at least this often while the job stops


class Runner(Protocol):
    """Runs one job to its end on the calling thread (train_svc.job_run.runner.JobRunner)."""

    def run(self, job: Job) -> None: ...


class JobNotFound(DomainError):
    def __init__(self, name: str):
        super().__init__(
            ErrorCode.NOT_FOUND, "JOB_NOT_FOUND", f"training job {quote(name)} does not exist", {"name": name}
        )


class JobAlreadyFinished(DomainError):
    def __init__(self, job: Job):
        message = f"training job {job.name} already ended in state {job.state.value}"
        super().__init__(ErrorCode.FAILED_PRECONDITION, "JOB_ALREADY_FINISHED", message, {"name": job.name})


class JobNotFinished(DomainError):
    def __init__(self, job: Job):
        message = (
            f"training job {job.name} is {job.state.value}: cancel it and delete it once it has ended, "
            "or delete it with force"
        )
        super().__init__(
            ErrorCode.FAILED_PRECONDITION, "JOB_NOT_FINISHED", message, {"name": job.name, "state": job.state.value}
        )


class JobStillStopping(DomainError):
    def __init__(self, job: Job, waited: float):
        message = (
            f"training job {job.name} was cancelled but has not stopped within {waited:.0f} s; "
            "it is not deleted yet: delete it again shortly"
        )
        super().__init__(ErrorCode.UNAVAILABLE, "JOB_STILL_STOPPING", message, {"name": job.name})


class RequestIdConflict(DomainError):
    def __init__(self, request_id: str, job: Job):
        message = (
            f"request_id {quote(request_id)} was already used for {job.name} with a different request; "
            "use a new request_id for a new job"
        )
        super().__init__(ErrorCode.ALREADY_EXISTS, "REQUEST_ID_REUSED", message, {"name": job.name})


class FollowInterrupted(Exception):
    """A watch ended before its job did: the service is stopping."""


class ShuttingDown(DomainError):
    def __init__(self):
        message = "the training service is shutting down and takes no new jobs; retry against another replica or later"
        super().__init__(ErrorCode.UNAVAILABLE, "SHUTTING_DOWN", message)


@dataclass(frozen=True)
class ManagerSettings:
    bases: BaseModels  # the hosted bases: a request names one by id (unset: the default)
    holder: str  # this replica's name in the store's leases
    lease_seconds: float = 30.0
    quotas: Quotas = Quotas()
    batch_size: int = 1  # what a request that leaves batch_size unset gets (the service's world size)


def hosted_keys(bases: BaseModels) -> tuple[str, ...]:
    """The keys claims match for `bases`: each id at its version, and "" (jobs stored before ids) at the
    default's."""
    return (*(base_key(base_id, base.version) for base_id, base in bases), base_key("", bases.default.version))


class JobManager:
    def __init__(
        self,
        runner: Runner,
        slots: AcceleratorSlots,
        store: JobStore,
        settings_of: SettingsOf,
        settings: ManagerSettings,
    ):
        """`slots` are shared with generations; `settings_of` turns a stored request into its settings."""
        self._store = store
        self._settings = settings
        self._quotas = settings.quotas
        self._views = JobViews(store, settings_of)
        self._feeds = JobFeeds(store)
        self._changes = ChangeFeed(store)
        self._claims = JobClaims(
            store,
            runner.run,
            slots,
            settings_of,
            ClaimSettings(
                settings.holder, settings.lease_seconds, settings.quotas.running_jobs, hosted_keys(settings.bases)
            ),
        )
        self._draining = False

    def start(self) -> None:
        """Start claiming jobs (first those a former owner left running, then the queued ones)."""
        self._claims.start()

    def create(
        self,
        settings: Any,
        input_json: dict[str, Any],
        owner: str,
        request_id: str = "",
        admit: Callable[[], None] = lambda: None,
    ) -> Job:
        """A new job of `owner`'s, or the job an earlier call with the same request_id made. `admit` raises
        when a new job may not be made (a quota); it is not asked for a repeat. A request without batch_size
        gets the service's, one without base_model the default base's id (both recorded in the job's stored
        request, so the job keeps them wherever it resumes); the job records its base's name and LTX version.
        The request's base must be hosted here (UnknownBaseModel otherwise: the caller checks it first).
        The trace context current here (the creating call's span, if it is traced) is kept on the job's first
        event: the job's run continues that trace."""
        if request_id and (earlier := self._store.find_request(owner, request_id)) is not None:
            return self._repeat(earlier, input_json, request_id)
        if settings.batch_size is None:
            input_json = {**input_json, "batch_size": self._settings.batch_size}
        if not input_json.get("base_model"):
            input_json = {**input_json, "base_model": self._settings.bases.default_id}
        base = self._settings.bases.get(input_json["base_model"])
        if self._draining:
            raise ShuttingDown()
        admit()
        created = datetime.now(UTC)
        new = NewJob(uuid.uuid4().hex[:16], owner, request_id, input_json, base.name, created, base.version)
        queued = StateChanged(JobState.QUEUED, "waiting for a free accelerator", trace_parent=current_trace_parent())
        first = LoggedEvent(1, created, queued)
        try:
            stored, is_new = self._store.add_job(new, first, self._quotas.queued_jobs)
        except QueueFull as full:
            raise QuotaExceeded(
                f"principal:{owner}",
                "queued_jobs",
                f"{owner} has {full.queued} job(s) waiting, its quota of queued jobs is {self._quotas.queued_jobs}: "
                "create more when some have started",
            ) from None
        if not is_new:  # another replica stored the same request_id a moment ago
            return self._repeat(stored, input_json, request_id)
        log.info("job created", job=stored.id, owner=owner, steps=settings.number_of_steps, base=base.name)
        return self._view(stored)

    def _repeat(self, stored: StoredJob, input_json: dict[str, Any], request_id: str) -> Job:
        """The job an earlier call with `request_id` made, if this call asks for the same job."""
        existing = self._view(stored)
        filled = ("batch_size", "base_model")  # what create records when the request leaves it unset
        recorded = {key: stored.input_json[key] for key in filled if key in stored.input_json}
        if {**recorded, **input_json} != stored.input_json:
            raise RequestIdConflict(request_id, existing)
        return existing

    def _view(self, stored: StoredJob) -> Job:
        job = self._views.of(stored)
        if job is None:
            raise JobNotFound(NAME_PREFIX + stored.id)
        return job

    def get(self, name: str, caller: Caller) -> Job:
        """The job named `name` if `caller` may see it; JobNotFound otherwise (whether or not it exists)."""
        job_id = name.removeprefix(NAME_PREFIX)
        stored = self._store.job(job_id) if name.startswith(NAME_PREFIX) and job_id else None
        if stored is None or not caller.owns(stored.owner):
            raise JobNotFound(name)
        job = self._views.of(stored)
        if job is None:
            raise JobNotFound(name)
        return job

    def job_ids(self, owner: str) -> list[str]:
        return self._store.job_ids(owner)

    def list(self, caller: Caller, page_size: int, page_token: str, weigh: Callable[[Job], int]) -> Page[Job]:
        """A page of the jobs `caller` may see, newest first (see listing for sizes and tokens), read from
        the store a page at a time."""
        size, before = page_request(page_size, page_token)
        rows = self._store.page(None if caller.admin else caller.principal, before, size + 1)
        views = [(row.number, self._views.of(row)) for row in rows[:size]]
        return page_of(views + [(row.number, None) for row in rows[size:]], size, weigh)

    def view(self, job_id: str, sequence: int) -> Job | None:
        """The job as of its event `sequence` or later (None: it cannot be shown)."""
        return self._views.at_least(job_id, sequence)

    def every_job(self, caller: Caller) -> Generator[Job, None, None]:
        """Every job `caller` may see, newest first, read from the store a page at a time."""
        owner = None if caller.admin else caller.principal
        before = None
        while rows := self._store.page(owner, before, EVERY_JOB_PAGE):
            for row in rows:
                if (job := self._views.of(row)) is not None:
                    yield job
            before = rows[-1].number

    def change_bounds(self) -> tuple[int, int]:
        """(the position before the oldest change kept, the newest position) of the store's changes."""
        return self._store.change_bounds()

    def follow_changes(self, after: int, caller: Caller, idle_seconds: float) -> AsyncIterator[Change | None]:
        """Changes to the jobs `caller` may see after position `after`, then live ones (see ChangeFeed)."""
        return self._changes.follow(after, None if caller.admin else caller.principal, idle_seconds)

    def cancel(self, name: str, caller: Caller) -> Job:
        job = self.get(name, caller)
        if job.state.is_final:
            raise JobAlreadyFinished(job)
        self._claims.cancel_held(job.id)
        ended = StateChanged(JobState.CANCELLED, "cancelled by request while waiting to run; billed 0")
        now = self._store.cancel(job.id, ended, datetime.now(UTC))
        log.info("cancel requested", job=job.id, state=job.state.value, ended_now=now)
        return self.get(name, caller)

    def delete(self, name: str, caller: Caller, force: bool, wait_seconds: float) -> Job:
        """Delete the job's record (JobNotFinished if it has not ended, unless `force`: then it is cancelled,
        wherever it runs, and deleted once it has stopped, waiting up to `wait_seconds`). Returns the job as
        last seen; its files are the caller's to remove (train_svc.retention.files)."""
        job = self.get(name, caller)
        if not job.state.is_final:
            if not force:
                raise JobNotFinished(job)
            with contextlib.suppress(JobAlreadyFinished):  # it ended meanwhile
                self.cancel(name, caller)
        woken = threading.Event()
        unsubscribe = self._store.notices.subscribe(lambda notice: woken.set() if notice.job_id == job.id else None)
        deadline = time.monotonic() + wait_seconds
        try:
            while (outcome := self._store.delete(job.id)) is Deletion.UNFINISHED:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise JobStillStopping(job, wait_seconds)
                woken.wait(min(remaining, DELETE_POLL_SECONDS))  # the holder's release, or a lease expiring
                woken.clear()
        finally:
            unsubscribe()
        if outcome is Deletion.ABSENT:  # deleted by another call meanwhile
            raise JobNotFound(name)
        log.info("job deleted", job=job.id, owner=job.owner, state=job.state.value, forced=not job.state.is_final)
        return job

    def follow(self, job_id: str, after: int, idle_seconds: float) -> AsyncIterator[LoggedEvent | None]:
        """The job's events after `after`, then live ones until it ends (see EventLog.follow)."""
        return self._follow(job_id, after, idle_seconds)

    async def _follow(self, job_id: str, after: int, idle_seconds: float) -> AsyncIterator[LoggedEvent | None]:
        async with self._feeds.following(job_id, after) as feed:
            async for item in feed.follow(after, idle_seconds=idle_seconds):
                yield item
            if not feed.closed:
                raise FollowInterrupted()

    def refuse_new_jobs(self) -> None:
        """From now on CreateTrainingJob fails UNAVAILABLE (a repeat of a known request_id still answers)."""
        self._draining = True

    def stop_jobs(self, timeout: float) -> bool:
        """Ask running jobs to checkpoint and stop (queued ones stay queued), wait up to `timeout` seconds
        for them; True when every job thread stopped in time. Both stay in the store, to resume."""
        self._draining = True
        stopped = self._claims.stop(timeout)
        log.info("jobs stopped" if stopped else "jobs still stopping at the deadline", timeout_s=timeout)
        return stopped

    def interrupt_watchers(self) -> None:
        """End every watch once it has caught up: the service is stopping (jobs resume elsewhere or later)."""
        self._feeds.interrupt_all()
        self._feeds.close()
        self._changes.interrupt()
        self._changes.close()

    @property
    def replica(self) -> str:
        """This replica's name in the store's leases (and in its logs)."""
        return self._settings.holder

    @property
    def draining(self) -> bool:
        return self._draining
