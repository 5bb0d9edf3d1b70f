"""The job table and the queue: jobs run in FIFO order, each holding an accelerator slot while it runs."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from shared.request.errors import DomainError, ErrorCode
from train_svc.accelerator import AcceleratorSlots
from train_svc.jobs.events import JobState, StateChanged
from train_svc.jobs.job import NAME_PREFIX, Job
from train_svc.jobs.listing import page
from train_svc.jobs.runner import JobRunner

log = structlog.get_logger(__name__)


class JobNotFound(DomainError):
    def __init__(self, name: str):
        super().__init__(ErrorCode.NOT_FOUND, "JOB_NOT_FOUND", f"training job {name!r} does not exist", {"name": name})


class JobAlreadyFinished(DomainError):
    def __init__(self, job: Job):
        message = f"training job {job.name} already ended in state {job.state.value}"
        super().__init__(ErrorCode.FAILED_PRECONDITION, "JOB_ALREADY_FINISHED", message, {"name": job.name})


class RequestIdConflict(DomainError):
    def __init__(self, request_id: str, job: Job):
        message = (
            f"request_id {request_id!r} was already used for {job.name} with a different request; "
            "use a new request_id for a new job"
        )
        super().__init__(ErrorCode.ALREADY_EXISTS, "REQUEST_ID_REUSED", message, {"name": job.name})


class JobManager:
    def __init__(self, runner: JobRunner, base_model_name: str, slots: AcceleratorSlots):
        self._runner = runner
        self._base_model_name = base_model_name
        self._slots = slots  # shared with generations
        self._jobs: dict[str, Job] = {}  # in creation order
        self._numbers: dict[str, int] = {}  # job id -> creation number, for stable list pages
        self._by_request_id: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=slots.count, thread_name_prefix="training-job")

    def create(self, settings: Any, input_json: dict[str, Any], request_id: str = "") -> Job:
        with self._lock:
            if request_id and request_id in self._by_request_id:
                existing = self._by_request_id[request_id]
                if existing.input_json != input_json:
                    raise RequestIdConflict(request_id, existing)
                return existing
            job = Job(
                id=uuid.uuid4().hex[:16],
                settings=settings,
                input_json=input_json,
                base_model=self._base_model_name,
            )
            self._jobs[job.id] = job
            self._numbers[job.id] = len(self._numbers) + 1
            if request_id:
                self._by_request_id[request_id] = job
        job.record(StateChanged(JobState.QUEUED, "waiting for a free accelerator"))
        log.info("job created", job=job.id, steps=settings.number_of_steps)
        self._executor.submit(self._run, job)
        return job

    def _run(self, job: Job) -> None:
        with self._slots.hold():  # a generation may be using the accelerator; the job waits QUEUED
            self._runner.run(job)

    def get(self, name: str) -> Job:
        job_id = name.removeprefix(NAME_PREFIX)
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or not name.startswith(NAME_PREFIX):
            raise JobNotFound(name)
        return job

    def list(self, page_size: int, page_token: str) -> tuple[list[Job], str]:
        """A page of jobs, newest first, and the token of the next page ("" on the last)."""
        with self._lock:
            numbered = [(self._numbers[job_id], job) for job_id, job in self._jobs.items()]
        return page(numbered, page_size, page_token)

    def cancel(self, name: str) -> Job:
        job = self.get(name)
        if job.state.is_final:
            raise JobAlreadyFinished(job)
        job.cancel_requested.set()
        log.info("cancel requested", job=job.id, state=job.state.value)
        return job

    def shutdown(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel_requested.set()
        self._executor.shutdown(wait=True, cancel_futures=False)
