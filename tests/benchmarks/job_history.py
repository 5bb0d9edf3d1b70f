"""What a long history of finished jobs costs the training service: start time, ListTrainingJobs page
latency and resident memory with --jobs finished jobs in the store, against 10, in one run.

  python -m tests.benchmarks.job_history [--jobs 10000] [--events 10] [--pages 40] [--store sqlite|postgres|both]

Each store is filled through the store's own API (each job created, claimed, given --events events and
ended SUCCEEDED), then `python -m train_svc` is started on it as a real process (its preprocessor target
is never called). Start time is from the process's start to its ready file; a page is a
ListTrainingJobs call of 10 jobs, the baseline's whole history: the newest page read --pages times
after a first read (its jobs' views then cached), against 10 jobs; and, with the long history, the
older pages one after another (each job rebuilt from its events on first sight). Memory is the
process's VmRSS after the pages. PostgreSQL is a real server (tests.postgres_server), on a Unix socket,
analyzed after it is filled (VACUUM ANALYZE), as a database in service would be.

Preconditions (PreconditionFailed when false): the store holds the jobs it was filled with, and every
page holds 10 finished jobs (the last one the rest), with a next page token while more are left.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import psycopg

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.ready_file import wait_for_ready_file
from shared.request.json_input import input_to_json
from tests.benchmarks.preconditions import Preconditions
from tests.e2e.processes import free_port
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import JobState, StateChanged, StepCompleted
from train_svc.jobs.sqlite_store import SqliteJobStore, store_path
from train_svc.jobs.store_contract import JobStore, NewJob
from train_svc.models.tiny_preset import PRESET_NAME

BASELINE_JOBS = 10
PAGE = 10  # the baseline's whole history: pages of the same size on both sides
FILLED = "the store holds the jobs it was filled with"
FULL_PAGES = "every page held 10 finished jobs (the last one the rest)"


def fill(store: JobStore, jobs: int, events: int) -> None:
    """`jobs` finished jobs of one owner, each with `events` events."""
    request = input_to_json(pb.TrainingInput(training_data_url="/data/clips.zip", number_of_steps=100))
    now = datetime.now(UTC)
    for number in range(jobs):
        new = NewJob(f"{number:016x}", "local", "", request, PRESET_NAME, now, "2.3")
        store.add_job(new, LoggedEvent(1, now, StateChanged(JobState.QUEUED)), None)
        lease = store.claim("filler", 60.0, None)
        assert lease is not None
        chain = [StateChanged(JobState.TRAINING)]
        chain += [StepCompleted(step, 100, 0.5, 1e-4, 0.1, 1.0, 0.5, 0.0) for step in range(1, events - 2)]
        chain.append(StateChanged(JobState.SUCCEEDED, "billed 100 units"))
        for sequence, event in enumerate(chain, start=2):
            store.append_event(new.id, LoggedEvent(sequence, now, event), lease)
        store.release(lease)


@dataclass(frozen=True)
class Figures:
    start_s: float
    newest_page_s: float  # p50 of the newest page read again
    older_page_s: float  # p50 of pages further back, each job rebuilt from its events for the first time
    rss_bytes: int


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _page(stub, token: str, jobs: int, index: int, checks: Preconditions) -> tuple[float, str]:
    """(seconds, next page token) of page `index` (from 0, newest first) of `jobs` finished jobs."""
    asked = time.perf_counter()
    page = stub.ListTrainingJobs(pb.ListTrainingJobsRequest(page_size=PAGE, page_token=token), timeout=60)
    seconds = time.perf_counter() - asked
    finished = [job for job in page.training_jobs if job.state == pb.TrainingJob.State.STATE_SUCCEEDED]
    left = jobs - index * PAGE
    expected = (min(PAGE, left), left > PAGE)
    checks.require(FULL_PAGES, (len(finished), bool(page.next_page_token)) == expected, f"{len(finished)}")
    return seconds, page.next_page_token


def measure(storage: Path, store_url: str, jobs: int, pages: int, checks: Preconditions) -> Figures:
    """A training service on `storage`: its start, its pages and its memory."""
    ready = storage / "train.ready.json"
    argv = [sys.executable, "-m", "train_svc", "--storage", str(storage), "--base-model", PRESET_NAME]
    argv += ["--preprocess-target", f"127.0.0.1:{free_port()}", "--port", "0", "--ready-file", str(ready)]
    argv += ["--job-store", store_url] if store_url else []
    started = time.monotonic()
    with open(storage / "train.log", "w") as log:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
    try:
        port = wait_for_ready_file(ready, process, 300, "train_svc").port
        start_s = time.monotonic() - started
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.TrainingServiceStub(channel)
            _, token = _page(stub, "", jobs, 0, checks)  # the connection, and the newest jobs rebuilt once
            newest = [_page(stub, "", jobs, 0, checks)[0] for _ in range(pages)]
            older = []
            for index in range(1, min(pages, -(-jobs // PAGE))):
                seconds, token = _page(stub, token, jobs, index, checks)
                older.append(seconds)
        return Figures(
            start_s, statistics.median(newest), statistics.median(older) if older else 0.0, _rss(process.pid)
        )
    finally:
        process.terminate()
        process.wait(timeout=60)


def run_store(kind: str, jobs: int, events: int, pages: int, work: Path, checks: Preconditions) -> None:
    figures = {}
    for count in (BASELINE_JOBS, jobs):
        storage = work / f"{kind}-{count}"
        storage.mkdir(parents=True)
        if kind == "postgres":
            from tests.postgres_server import PostgresServer
            from train_svc.jobs.postgres_store import PostgresJobStore

            server = PostgresServer()
            url = server.database()
            store: JobStore = PostgresJobStore(url)
        else:
            server, url = None, ""
            store = SqliteJobStore(store_path(storage))
        try:
            filled = time.monotonic()
            fill(store, count, events)
            checks.require(FILLED, len(store.job_ids("local")) == count)
            store.close()
            if server is not None:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("VACUUM ANALYZE")
            print(f"{kind}: {count} jobs stored in {time.monotonic() - filled:.1f} s", flush=True)
            figures[count] = measure(storage, url, count, pages, checks)
        finally:
            if server is not None:
                server.stop()
    base, many = figures[BASELINE_JOBS], figures[jobs]
    print(
        f"{kind}: start {many.start_s:.2f} s with {jobs} jobs vs {base.start_s:.2f} s with {BASELINE_JOBS} "
        f"(x{many.start_s / base.start_s:.2f}); newest page p50 {many.newest_page_s * 1000:.1f} ms vs "
        f"{base.newest_page_s * 1000:.1f} ms (x{many.newest_page_s / base.newest_page_s:.2f}); "
        f"RSS {many.rss_bytes / 2**20:.0f} MiB vs {base.rss_bytes / 2**20:.0f} MiB "
        f"(x{many.rss_bytes / base.rss_bytes:.2f})"
    )
    print(f"{kind}: older pages of {jobs} (every job rebuilt from its events) p50 {many.older_page_s * 1000:.1f} ms")


def main(argv: list[str] | None = None) -> Preconditions:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=10, help="events per job (at least 3)")
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args(argv)
    checks = Preconditions("job_history")
    with tempfile.TemporaryDirectory(prefix="ltx-history-") as tmp:
        for kind in ("sqlite", "postgres") if args.store == "both" else (args.store,):
            run_store(kind, args.jobs, max(args.events, 3), args.pages, Path(tmp), checks)
    print(checks.summary())
    return checks


if __name__ == "__main__":
    main()
