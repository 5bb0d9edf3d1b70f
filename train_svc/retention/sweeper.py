"""The train service's retention sweeps: one at start, then one every `sweep_minutes`, on a thread of their
own (a sweep walks folders and reads the store: blocking work). Every replica sweeps; see
train_svc.retention.sweep for why several at once are safe."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from train_svc.jobs.store_contract import JobStore
from train_svc.retention.settings import RetentionSettings
from train_svc.retention.sweep import RetentionSweep, SweepReport

log = structlog.get_logger(__name__)


class RetentionSweeper:
    def __init__(
        self,
        store: JobStore,
        storage_root: Path,
        settings: RetentionSettings,
        on_sweep: Callable[[SweepReport], None] = lambda report: None,
    ):
        self._sweep = RetentionSweep(store, storage_root, settings)
        self._interval = settings.sweep_minutes * 60
        self._on_sweep = on_sweep
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retention-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                report = self._sweep.run(datetime.now(UTC), self._stopping.is_set)
            except Exception:  # the store unreachable, a folder unreadable: the next sweep tries again
                log.exception("retention sweep failed")
            else:
                self._on_sweep(report)
                log.info("retention sweep done", bytes_freed=report.bytes_freed)
            self._stopping.wait(self._interval)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sweeping: a sweep under way ends after its current job (waited for up to `timeout` s)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def start_sweeper(
    store: JobStore, storage_root: Path, settings: RetentionSettings, on_sweep: Callable[[SweepReport], None]
) -> RetentionSweeper | None:
    """The sweeper, started; None when no retention is set (everything is kept)."""
    if not settings.enabled:
        return None
    sweeper = RetentionSweeper(store, storage_root, settings, on_sweep)
    sweeper.start()
    return sweeper
