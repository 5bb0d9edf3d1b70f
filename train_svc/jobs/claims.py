"""This replica's share of the jobs: worker threads that claim a job whenever an accelerator slot is free,
and the lease keeper that keeps the claimed ones.

A worker waits for a hint that a job may be claimable (the store's CLAIMABLE notice) or, at the latest,
a third of the lease (a replica that died announces nothing: its leases just expire), takes a free
slot, then claims. A claimed job is rebuilt from its stored events and run; if it was past QUEUED it
resumes (Job.resuming: repeats of logged events are dropped, so the sequence stays gapless). Its
events are stored under the lease's fencing token.

A worker claims only jobs on the bases this replica hosts, which the keeper announces in the store each
third of the lease; once it has announced for a whole lease (so every live replica has too), it also
claims jobs on a base no live replica hosts, and the runner fails them (BASE_MODEL_NOT_HOSTED). On stop
the announcement is withdrawn.

The keeper renews every held lease each third of the lease. A lease found lost (another replica took
the job over after this one could not renew in time) stops the job at its next step, and nothing more
it records is stored. A cancel asked on any replica reaches the holder by the store's CANCEL notice (or
at the latest the next renewal) and ends the job at its next step.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from train_svc.accelerator import AcceleratorSlots
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import JobError, JobState, StateChanged
from train_svc.jobs.job import Job
from train_svc.jobs.store_contract import Hosting, JobStore, Lease, LeaseLost, Notice, NoticeKind
from train_svc.jobs.views import SettingsOf, UnreadableJob, job_fields, job_settings

log = structlog.get_logger(__name__)


def replica_name() -> str:
    """This process's name in the job store's leases: host, process id and a random part (ids get reused)."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


@dataclass
class HeldJob:
    job: Job
    lease: Lease
    renewed: float  # time.monotonic() of the claim or the last renewal


@dataclass(frozen=True)
class ClaimSettings:
    holder: str  # this replica's name in the store's leases
    lease_seconds: float
    running_limit: int | None  # per principal: jobs running at once (over all replicas)
    hosted: tuple[str, ...]  # the keys (store_contract.base_key) of the bases this replica hosts


class JobClaims:
    def __init__(
        self,
        store: JobStore,
        run: Callable[[Job], None],
        slots: AcceleratorSlots,
        settings_of: SettingsOf,
        settings: ClaimSettings,
    ):
        self._store = store
        self._run = run
        self._slots = slots
        self._settings_of = settings_of
        self._settings = settings
        self._period = settings.lease_seconds / 3
        self._announced_since = time.monotonic()  # set again by start
        self._lock = threading.Lock()
        self._held: dict[str, HeldJob] = {}
        self._hint = threading.Event()  # a job may be claimable
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"training-job-{i}", daemon=True) for i in range(slots.count)
        ]
        self._threads.append(threading.Thread(target=self._keep, name="lease-keeper", daemon=True))
        self._unsubscribe = store.notices.subscribe(self._on_notice)

    def start(self) -> None:
        self._announce()
        self._announced_since = time.monotonic()
        self._hint.set()  # whatever is claimable now (jobs a former owner left, queued ones)
        for thread in self._threads:
            thread.start()

    def _announce(self) -> None:
        try:
            self._store.announce(self._settings.holder, self._settings.hosted, self._settings.lease_seconds)
        except Exception as exc:  # the store unreachable: claims fail too until it is back
            log.warning("hosted bases not announced: the store failed", error=str(exc))

    def _hosting(self) -> Hosting:
        settled = time.monotonic() - self._announced_since >= self._settings.lease_seconds
        return Hosting(self._settings.hosted, unhosted=settled)

    def held(self, job_id: str) -> Job | None:
        with self._lock:
            held = self._held.get(job_id)
        return None if held is None else held.job

    def cancel_held(self, job_id: str) -> None:
        """Ask a job this replica runs to stop at its next step, cancelled."""
        if (job := self.held(job_id)) is not None:
            job.cancel_requested.set()

    def _on_notice(self, notice: Notice) -> None:
        if notice.kind in (NoticeKind.CLAIMABLE, NoticeKind.RESYNC):
            self._hint.set()
        elif notice.kind is NoticeKind.CANCEL:
            self.cancel_held(notice.job_id)

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._hint.wait(self._period)
            self._hint.clear()
            if self._stopping.is_set():
                return
            try:
                with self._slots.hold(give_up=self._stopping.is_set):
                    lease = self._store.claim(
                        self._settings.holder,
                        self._settings.lease_seconds,
                        self._settings.running_limit,
                        self._hosting(),
                    )
                    if lease is not None:
                        self._hint.set()  # there may be more for the other workers
                        self._take(lease)
            except Exception:  # WaitAbandoned while stopping, the store unreachable, or a bug: keep serving
                if not self._stopping.is_set():
                    log.exception("job worker failed; it claims again")
                    self._stopping.wait(self._period)

    def _take(self, lease: Lease) -> None:
        """Run the job `lease` holds, then let the lease go."""
        try:
            job = self._rebuild(lease)
            if job is None:
                return
            with self._lock:
                self._held[lease.job_id] = HeldJob(job, lease, time.monotonic())
            stored = self._store.job(lease.job_id)  # a cancel may have come between the claim and now
            if lease.cancel_requested or (stored is not None and stored.cancel_requested):
                job.cancel_requested.set()
            log.info(
                "job claimed",
                job=job.id,
                replica=lease.holder,
                token=lease.token,
                resuming=job.resuming,
                state=job.state.value,
            )
            if job.state is JobState.QUEUED and job.cancel_requested.is_set():
                job.record(StateChanged(JobState.CANCELLED, "cancelled by request while waiting to run; billed 0"))
            else:
                self._run(job)
        finally:
            with self._lock:
                self._held.pop(lease.job_id, None)
            self._store.release(lease)

    def _rebuild(self, lease: Lease) -> Job | None:
        """The claimed job as its events left it, recording under `lease`; None (the job failed) if it
        cannot be rebuilt."""
        stored = self._store.job(lease.job_id)
        if stored is None:
            return None
        events = self._store.events(stored.id)

        def persist(logged: LoggedEvent) -> None:
            self._store.append_event(stored.id, logged, lease)

        try:
            settings = job_settings(stored, self._settings_of)
        except UnreadableJob as exc:
            failed = StateChanged(
                JobState.FAILED, str(exc), JobError("FAILED_PRECONDITION", "STORED_REQUEST_INVALID", str(exc))
            )
            persist(LoggedEvent(stored.last_sequence + 1, datetime.now(UTC), failed))
            log.error("job failed: its stored request cannot be read", job=stored.id, error=str(exc))
            return None

        def fence() -> None:
            if self._store.renew(lease, self._settings.lease_seconds) is None:
                raise LeaseLost(stored.id, lease.token)

        job = Job.restore(events, persist, **job_fields(stored, settings))
        job.fence, job.lease_token = fence, lease.token
        return job

    def _keep(self) -> None:
        """Renew every held lease each period; stop a job whose lease is lost or that was cancelled."""
        while not self._stopping.wait(self._period):
            self._announce()
            with self._lock:
                held = list(self._held.values())
            for item in held:
                job_id = item.lease.job_id
                try:
                    cancel = self._store.renew(item.lease, self._settings.lease_seconds)
                except Exception as exc:  # the store unreachable: the lease may still be ours until it expires
                    since = time.monotonic() - item.renewed
                    log.warning("lease not renewed: the store failed", job=job_id, error=str(exc), since_s=since)
                    if since < self._settings.lease_seconds:
                        continue
                    cancel = None  # it has expired by now: someone else may hold the job
                if cancel is None:
                    log.warning("lease lost: another replica runs the job now; stopping it here", job=job_id)
                    item.job.stop_requested.set()
                    continue
                item.renewed = time.monotonic()
                if cancel:
                    item.job.cancel_requested.set()

    def stop(self, timeout: float) -> bool:
        """Stop claiming, ask held jobs to stop at their next step (checkpointed, their leases let go for
        any replica to resume them) and wait up to `timeout` s; True when every worker stopped in time."""
        self._stopping.set()
        self._hint.set()
        with self._lock:
            held = list(self._held.values())
        for item in held:
            item.job.stop_requested.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(deadline - time.monotonic(), 0.0))
        self._unsubscribe()
        try:
            self._store.withdraw(self._settings.holder)
        except Exception as exc:  # it expires after a lease anyway
            log.warning("hosted bases not withdrawn: the store failed", error=str(exc))
        return not any(thread.is_alive() for thread in self._threads)
