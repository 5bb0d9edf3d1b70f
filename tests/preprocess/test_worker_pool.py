"""The service's warm worker pool: started with its imports done, shared by runs, replaced when a worker dies."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import wait
from pathlib import Path

import pytest

from preprocess_svc.events import BundleWritten, Summary
from preprocess_svc.pipeline import run_preprocess
from preprocess_svc.worker_pool import WORKER_CRASHED_REASON, WorkerCrashed, WorkerPool
from shared.request.errors import ErrorCode

# Every case starts, kills or stops spawn worker processes and waits on them (1-3 s each): the
# integration tier, by the marker's rule. The unit tier's runs share one warm pool (conftest.worker_pool).
pytestmark = pytest.mark.integration


def _worker_state(module: str = "preprocess_svc.sample_worker") -> tuple[int, bool]:
    """(pid, whether `module` is already imported), seen from inside a worker."""
    return os.getpid(), module in sys.modules


def _worker_pids() -> set[int]:
    """Live spawn workers that are children of this process."""
    children: set[int] = set()
    for task in Path("/proc/self/task").glob("*/children"):
        children.update(int(pid) for pid in task.read_text().split())
    found = set()
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found.add(pid)
    return found


@pytest.fixture
def pool():
    pool = WorkerPool(2)
    yield pool
    pool.shutdown()


def test_start_launches_every_worker_with_its_modules_imported() -> None:
    # A module this test file does not import (unpickling _worker_state imports this file in the worker).
    pool = WorkerPool(2, warm_modules=("shared.demo_dataset",))
    try:
        before = _worker_pids()
        pool.start(wait=True)
        assert len(_worker_pids() - before) == 2
        states = [pool.submit(_worker_state, "shared.demo_dataset").result(timeout=30) for _ in range(4)]
        assert all(imported for _, imported in states)
    finally:
        pool.shutdown()


def test_closing_a_run_cancels_only_its_own_queued_tasks() -> None:
    pool = WorkerPool(1)
    try:
        pool.start(wait=True)
        # Occupy the worker (1 s) and fill the executor's call queue (max_workers + 1 = 2 places, holding
        # tasks it can no longer cancel), so the runs' tasks below all wait in its cancellable backlog.
        busy = [pool.submit(time.sleep, 1.0), pool.submit(time.sleep, 0), pool.submit(time.sleep, 0)]
        time.sleep(0.2)
        run_a, run_b = pool.run(), pool.run()
        a = [run_a.submit(os.getpid) for _ in range(3)]
        b = [run_b.submit(os.getpid) for _ in range(3)]

        run_a.cancel_pending()

        assert all(f.cancelled() for f in a)
        done, not_done = wait(a, timeout=1)  # a cancelled task counts as done for wait()
        assert (len(done), len(not_done)) == (3, 0)
        assert len({f.result(timeout=30) for f in b}) == 1
        assert all(f.done() and not f.cancelled() for f in busy)
    finally:
        pool.shutdown()


def test_a_dead_worker_fails_its_tasks_clearly_and_the_pool_recovers(pool: WorkerPool) -> None:
    pool.start(wait=True)
    run = pool.run()
    dying = run.submit(os._exit, 1)  # what the OOM killer does, seen from the executor
    with pytest.raises(WorkerCrashed) as caught:
        dying.result(timeout=30)
    assert (caught.value.code, caught.value.reason) == (ErrorCode.UNAVAILABLE, WORKER_CRASHED_REASON)
    assert "out-of-memory" in caught.value.message

    pid, imported = pool.submit(_worker_state).result(timeout=30)
    assert pid != os.getpid() and imported  # a fresh executor, warmed like the first


def test_a_run_that_loses_a_worker_fails_and_the_next_run_works(tmp_path: Path, demo_zip: Path, make_settings) -> None:
    pool = WorkerPool(1)
    try:
        pool.start(wait=True)
        worker_pid, _ = pool.submit(_worker_state).result(timeout=30)
        pool.submit(time.sleep, 30)  # the run's files queue behind this, until the worker is killed
        killer = threading.Timer(1.0, os.kill, (worker_pid, signal.SIGKILL))
        killer.start()
        settings = make_settings(demo_zip)
        with pytest.raises(WorkerCrashed):
            list(run_preprocess(settings, tmp_path / "storage", worker_pool=pool))
        killer.join()

        events = list(run_preprocess(settings, tmp_path / "storage", worker_pool=pool))
        assert len([e for e in events if isinstance(e, BundleWritten)]) == 5
        assert isinstance(events[-1], Summary) and events[-1].samples == 5
    finally:
        pool.shutdown()


def test_a_shut_down_pool_refuses_work(pool: WorkerPool) -> None:
    others = _worker_pids()  # other pools of this test session (e.g. a running service's) stay alive
    pool.start(wait=True)
    workers = _worker_pids() - others
    assert len(workers) == 2
    pool.shutdown()
    assert not workers & _worker_pids()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(os.getpid)


_POOL_HOLDER = """
import os, sys, time
from preprocess_svc.worker_pool import WorkerPool
pool = WorkerPool(2)
pool.start(wait=True)
print("PIDS", *sorted(pool.submit(os.getpid).result() for _ in range(8)), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """The process runs (a zombie waiting for its new parent to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_workers_end_when_the_service_holding_the_pool_is_killed() -> None:
    """A SIGKILLed service cannot shut its pool down; its idle workers, blocked on their task queue, notice
    that their parent is gone and exit instead of staying behind for good."""
    import subprocess

    holder = subprocess.Popen([sys.executable, "-c", _POOL_HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        line = next(line for line in holder.stdout if line.startswith("PIDS"))  # after any log lines
        workers = {int(pid) for pid in line.split()[1:]}
        assert workers and all(_alive(pid) for pid in workers)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), f"workers {sorted(workers)} outlived their service"
