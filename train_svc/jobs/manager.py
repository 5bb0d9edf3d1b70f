"""The job table and the queue: each job belongs to the principal that created it, and jobs run in FIFO
order, each holding an accelerator slot while it runs.

Every lookup names the caller: another principal's job is NOT_FOUND to it (admins see every job), and
request_id idempotency holds per principal. Per-principal quotas (train_svc.jobs.quotas) bound how many
of a principal's jobs wait and run: the scheduler takes the oldest queued job whose owner is under its
running quota, so one tenant's backlog never holds up another's.

Jobs and their event logs live in the job store, so a restart loses none of them: on start, jobs
that were running are resumed first (in the order they were created), then the queued ones.
Shutting down (`refuse_new_jobs`, then `stop_jobs`) refuses new jobs, asks running ones to stop at
their next step boundary (they checkpoint and stay as they are, to resume on the next start) and
waits for them up to a deadline. Job threads are daemons, so a job that cannot stop in time never holds the process up.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from shared.auth import Caller
from shared.quoting import quote
from shared.request.errors import DomainError, ErrorCode, QuotaExceeded
from train_svc.accelerator import AcceleratorSlots
from train_svc.jobs.event_log import EventLog
from train_svc.jobs.events import JobState, StateChanged
from train_svc.jobs.job import NAME_PREFIX, Job
from train_svc.jobs.listing import Page, page
from train_svc.jobs.quotas import Quotas
from train_svc.jobs.store import JobStore, StoredJob

log = structlog.get_logger(__name__)

SettingsOf = Callable[[dict[str, Any]], Any]  # a stored request (JSON) -> its resolved settings
# Jobs stored before batch_size existed trained one sample per step; they keep doing so when they resume.
STORED_JOB_BATCH_SIZE = 1


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


class RequestIdConflict(DomainError):
    def __init__(self, request_id: str, job: Job):
        message = (
            f"request_id {quote(request_id)} was already used for {job.name} with a different request; "
            "use a new request_id for a new job"
        )
        super().__init__(ErrorCode.ALREADY_EXISTS, "REQUEST_ID_REUSED", message, {"name": job.name})


class ShuttingDown(DomainError):
    def __init__(self):
        message = "the training service is shutting down and takes no new jobs; retry against another replica or later"
        super().__init__(ErrorCode.UNAVAILABLE, "SHUTTING_DOWN", message)


class JobManager:
    def __init__(
        self,
        runner: Runner,
        base_model_name: str,
        slots: AcceleratorSlots,
        store: JobStore,
        quotas: Quotas | None = None,
        batch_size: int = 1,
    ):
        """`batch_size`: what a request that leaves batch_size unset gets (the service's world size)."""
        self._runner = runner
        self._batch_size = batch_size
        self._base_model_name = base_model_name
        self._slots = slots  # shared with generations
        self._store = store
        self._quotas = quotas or Quotas()
        self._jobs: dict[str, Job] = {}  # in creation order
        self._numbers: dict[str, int] = {}  # job id -> creation number, for stable list pages
        self._by_request_id: dict[tuple[str, str], Job] = {}  # (owner, request_id) -> job
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)  # a job was queued or ended, or the service stops
        self._waiting: list[Job] = []  # queued (and resuming) jobs, oldest first
        self._running: Counter[str] = Counter()  # owner -> jobs a worker has taken up and not finished
        self._started: set[str] = set()  # jobs a worker has taken up in this process
        self._draining = False
        self._workers = [
            threading.Thread(target=self._work, name=f"training-job-{i}", daemon=True) for i in range(slots.count)
        ]

    def start(self, settings_of: SettingsOf) -> None:
        """Load every stored job, queue the unfinished ones (running first), and start the workers."""
        restored = []
        for stored in self._store.jobs():
            try:
                settings = settings_of(stored.input_json)
                if settings.batch_size is None:
                    settings = replace(settings, batch_size=STORED_JOB_BATCH_SIZE)
                job = Job.restore(
                    self._store.events(stored.id),
                    self._persister(stored.id),
                    id=stored.id,
                    owner=stored.owner,
                    settings=settings,
                    input_json=stored.input_json,
                    base_model=stored.base_model,
                    create_time=stored.create_time,
                )
            except Exception as exc:  # e.g. a request today's rules refuse: one bad record must not stop the rest
                log.error("job not restored: it stays in the store, unserved", job=stored.id, error=repr(exc)[:500])
                continue
            self._jobs[job.id] = job
            self._numbers[job.id] = stored.number
            if stored.request_id:
                self._by_request_id[(stored.owner, stored.request_id)] = job
            restored.append(job)
        unfinished = sorted((j for j in restored if not j.state.is_final), key=lambda j: not j.resuming)
        self._waiting.extend(unfinished)
        log.info("jobs restored", jobs=len(restored), resuming=[j.id for j in unfinished])
        for worker in self._workers:
            worker.start()

    def _persister(self, job_id: str):
        return lambda logged: self._store.append_event(job_id, logged)

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
        gets the service's (recorded in the job's stored request, so the job keeps it wherever it resumes)."""
        with self._lock:
            if request_id and (owner, request_id) in self._by_request_id:
                existing = self._by_request_id[(owner, request_id)]
                recorded = {key: existing.input_json[key] for key in ("batch_size",) if key in existing.input_json}
                if {**recorded, **input_json} != existing.input_json:
                    raise RequestIdConflict(request_id, existing)
                return existing
            if settings.batch_size is None:
                settings = replace(settings, batch_size=self._batch_size)
                input_json = {**input_json, "batch_size": self._batch_size}
            if self._draining:
                raise ShuttingDown()
            self._check_queue_quota(owner)
            admit()
            job_id = uuid.uuid4().hex[:16]
            number = max(self._numbers.values(), default=0) + 1
            created = datetime.now(UTC)
            stored = StoredJob(job_id, number, owner, request_id, input_json, self._base_model_name, created)
            self._store.add_job(stored)
            job = Job(
                id=job_id,
                owner=owner,
                settings=settings,
                input_json=input_json,
                base_model=self._base_model_name,
                create_time=created,
                log=EventLog(persist=self._persister(job_id)),
            )
            self._jobs[job.id] = job
            self._numbers[job.id] = number
            if request_id:
                self._by_request_id[(owner, request_id)] = job
            job.record(StateChanged(JobState.QUEUED, "waiting for a free accelerator"))
            self._waiting.append(job)
            self._wakeup.notify_all()
        log.info("job created", job=job.id, owner=owner, steps=settings.number_of_steps)
        return job

    def _check_queue_quota(self, owner: str) -> None:
        quota = self._quotas.queued_jobs
        if quota is None:
            return
        queued = sum(1 for job in self._waiting if job.owner == owner and job.state is JobState.QUEUED)
        if queued >= quota:
            raise QuotaExceeded(
                f"principal:{owner}",
                "queued_jobs",
                f"{owner} has {queued} job(s) waiting, its quota of queued jobs is {quota}: "
                "create more when some have started",
            )

    def _next_job(self) -> Job | None:
        """The oldest waiting job whose owner is under its running quota; None once the service stops."""
        limit = self._quotas.running_jobs
        with self._wakeup:
            while not self._draining:
                self._waiting = [job for job in self._waiting if not job.state.is_final]  # cancelled while waiting
                for index, job in enumerate(self._waiting):
                    if limit is None or self._running[job.owner] < limit:
                        del self._waiting[index]
                        self._running[job.owner] += 1
                        self._started.add(job.id)
                        return job
                self._wakeup.wait()
            return None

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                with self._slots.hold(give_up=lambda: self._draining):
                    self._runner.run(job)
            except Exception:  # WaitAbandoned while draining, or a bug outside the runner's own handling
                if not self._draining:
                    log.exception("job worker failed", job=job.id)
            finally:
                with self._wakeup:
                    self._running[job.owner] -= 1
                    self._wakeup.notify_all()

    def get(self, name: str, caller: Caller) -> Job:
        """The job named `name` if `caller` may see it; JobNotFound otherwise (whether or not it exists)."""
        job_id = name.removeprefix(NAME_PREFIX)
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or not name.startswith(NAME_PREFIX) or not caller.owns(job.owner):
            raise JobNotFound(name)
        return job

    def jobs_of(self, owner: str) -> list[Job]:
        with self._lock:
            return [job for job in self._jobs.values() if job.owner == owner]

    def list(self, caller: Caller, page_size: int, page_token: str, weigh: Callable[[Job], int]) -> Page[Job]:
        """A page of the jobs `caller` may see, newest first (see listing.page for sizes and tokens)."""
        with self._lock:
            numbered = [(self._numbers[job_id], job) for job_id, job in self._jobs.items() if caller.owns(job.owner)]
        return page(numbered, page_size, page_token, weigh)

    def cancel(self, name: str, caller: Caller) -> Job:
        job = self.get(name, caller)
        with self._lock:
            if job.state.is_final:
                raise JobAlreadyFinished(job)
            job.cancel_requested.set()
            if job.id not in self._started:  # still waiting: it ends now, for good (the store says so)
                job.record(StateChanged(JobState.CANCELLED, "cancelled by request while waiting to run; billed 0"))
                self._wakeup.notify_all()
        log.info("cancel requested", job=job.id, state=job.state.value)
        return job

    def refuse_new_jobs(self) -> None:
        """From now on CreateTrainingJob fails UNAVAILABLE (a repeat of a known request_id still answers)."""
        with self._lock:
            self._draining = True

    def stop_jobs(self, timeout: float) -> bool:
        """Ask running jobs to checkpoint and stop (queued ones stay queued), wait up to `timeout` seconds
        for them; True when every job thread stopped in time. Both survive in the store for the next start."""
        with self._wakeup:
            self._draining = True
            jobs = list(self._jobs.values())
            self._wakeup.notify_all()
        for job in jobs:
            job.stop_requested.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            if worker.is_alive():
                worker.join(max(deadline - time.monotonic(), 0.0))
        stopped = not any(worker.is_alive() for worker in self._workers)
        log.info("jobs stopped" if stopped else "jobs still stopping at the deadline", timeout_s=timeout)
        return stopped

    def interrupt_watchers(self) -> None:
        """End every watch once it has caught up: the service is stopping (jobs resume on the next start)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.log.interrupt()

    @property
    def draining(self) -> bool:
        return self._draining
