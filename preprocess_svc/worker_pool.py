"""The preprocessing worker processes: one warm pool per service, shared by all its runs.

A WorkerPool wraps a spawn-context ProcessPoolExecutor (the service is a threaded gRPC server, where
fork is unsafe). start() launches every worker at once and has each import the sample worker, so the
first run pays neither the process start-up nor the imports. Runs submit through a PoolRun, which
knows its own futures: closing a run early cancels only those, never another run's.

A worker that dies (the OOM killer, a signal) breaks a ProcessPoolExecutor for good: every future
still pending on it fails. Those futures raise WorkerCrashed here, a clear, retryable error, and the
next submission replaces the broken executor with a fresh one, so the service itself keeps working.
"""

from __future__ import annotations

import functools
import importlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Generic, ParamSpec, TypeVar

import structlog

from shared.logs import configure_logging, logging_configuration
from shared.parent_death import exit_with_parent
from shared.request.errors import DomainError, ErrorCode
from shared.tracing.context import trace_fields

WARM_MODULES = ("preprocess_svc.sample_worker",)
WORKER_CRASHED_REASON = "PREPROCESS_WORKER_CRASHED"

P = ParamSpec("P")
T = TypeVar("T")
log = structlog.get_logger(__name__)


class WorkerCrashed(DomainError):
    """A worker process died while this run had files queued or in progress; retrying gets fresh workers."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            ErrorCode.UNAVAILABLE,
            WORKER_CRASHED_REASON,
            "a preprocessing worker process died while fitting this run's files (killed by a signal, most "
            "likely the out-of-memory killer on a very large clip or bucket); the run was stopped and its "
            f"remaining files were not processed. The service has started fresh workers: retry the request. ({detail})",
        )


def _import_modules(modules: tuple[str, ...], logging_setup: tuple[bool, int] | None = None) -> None:
    """The executor's initializer, run by every worker as it starts: end with the service (a SIGKILLed
    service would otherwise leave its idle workers behind for good), log as the service does (JSON lines on
    stderr), and import what its tasks need, so the first real task does not pay for it (whichever worker
    the warm-up tasks reach)."""
    exit_with_parent()
    if logging_setup is not None:
        json_lines, level = logging_setup
        configure_logging(json=json_lines, level=level)
    for name in modules:
        importlib.import_module(name)


def _in_log_context(bound: dict[str, object], fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    """A task in a worker: fn(*args, **kwargs) with `bound` on its log lines (the submitter's job and trace ids)."""
    with structlog.contextvars.bound_contextvars(**bound):
        return fn(*args, **kwargs)


class _RunFuture(Future[T], Generic[T]):
    """The future a run sees: it follows the executor's future, with BrokenProcessPool turned into WorkerCrashed."""

    def __init__(self, inner: Future[T]) -> None:
        super().__init__()
        self._inner = inner
        inner.add_done_callback(self._follow)

    def cancel(self) -> bool:
        # Only a task still queued can be cancelled; _follow then marks this future cancelled too.
        return self._inner.cancel()

    def _follow(self, inner: Future[T]) -> None:
        if inner.cancelled():
            super().cancel()
            self.set_running_or_notify_cancel()  # wakes wait(): a cancelled future counts as done once notified
            return
        exc = inner.exception()
        if isinstance(exc, BrokenProcessPool):
            self.set_exception(WorkerCrashed(str(exc)))
        elif exc is not None:
            self.set_exception(exc)
        else:
            self.set_result(inner.result())


class WorkerPool:
    """A spawn-context process pool of `workers` processes, replaced transparently when a worker dies."""

    def __init__(self, workers: int, *, warm_modules: tuple[str, ...] = WARM_MODULES) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1 (got {workers})")
        self.workers = workers
        self._warm_modules = warm_modules
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def start(self, *, wait: bool = False) -> None:
        """Launch every worker now and have it import the sample worker (wait=True: until all are ready)."""
        with self._lock:
            warming = self._warm(self._live_executor())
        if wait:
            for future in warming:
                future.result()

    def run(self) -> PoolRun:
        """A handle for one run's tasks on this pool."""
        return PoolRun(self)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue fn(*args) on a worker; a broken executor is replaced first (its queued tasks already failed).
        The task logs with the submitter's bound log context and trace ids (its span is not there)."""
        bound = {**structlog.contextvars.get_contextvars(), **trace_fields()}
        task: Callable[..., T] = functools.partial(_in_log_context, bound, fn) if bound else fn
        with self._lock:
            executor = self._live_executor()
            try:
                inner = executor.submit(task, *args, **kwargs)
            except BrokenProcessPool as exc:
                log.warning("worker_pool_replaced", workers=self.workers, cause=str(exc))
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
                executor = self._live_executor()
                self._warm(executor)
                inner = executor.submit(task, *args, **kwargs)
        return _RunFuture(inner)

    def shutdown(self, *, wait: bool = True) -> None:
        """Cancel every queued task and stop the workers (wait=True: until the tasks in progress end)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)
            log.info("worker_pool_stopped", workers=self.workers)

    def _live_executor(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("the worker pool has been shut down")
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_import_modules,
                initargs=(self._warm_modules, logging_configuration()),
            )
        return self._executor

    def _warm(self, executor: ProcessPoolExecutor) -> list[Future[int]]:
        # One task per worker, submitted together: a spawn-context executor launches a new process for
        # each task it cannot hand to an idle one, so this starts all of them at once (each imports the
        # modules in the initializer, before it takes any task).
        warming = [executor.submit(os.getpid) for _ in range(self.workers)]
        log.info("worker_pool_started", workers=self.workers, warm_modules=list(self._warm_modules))
        return warming


def _discard_result(future: Future, discard: Callable[[object], None]) -> None:
    if not future.cancelled() and future.exception() is None:
        discard(future.result())


class PoolRun:
    """One run's tasks on a WorkerPool: submit them, and cancel the ones still queued when the run ends early."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._futures: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future = self._pool.submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def cancel_pending(self, discard: Callable[[object], None] | None = None) -> None:
        """Cancel this run's queued tasks; the ones already handed to a worker finish there, unseen, and
        `discard` is given each of their results (to remove what they wrote)."""
        with self._lock:
            futures = list(self._futures)
        for future in futures:
            if not future.cancel() and discard is not None:
                future.add_done_callback(lambda done: _discard_result(done, discard))

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)
