"""The benchmark's view of its process tree: peak memory per descendant, sampled, and CPU time of the whole tree.

Workers are children of whatever thread started their pool, so /proc/<pid>/task/*/children is walked
recursively, together with a scan of every process's parent.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Callable
from pathlib import Path

SAMPLE_INTERVAL_S = 0.05
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def vm_status(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) * 1024
    return found


def descendants(pid: int) -> list[int]:
    """Every live descendant of pid: the union of /proc/<p>/task/*/children (workers may be children of
    a non-main thread) and a scan of every process's parent in /proc/*/stat (catches a child whose
    forking thread has gone, or one missed between two reads)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            ppid = int(text[text.rindex(")") + 2 :].split()[1])
            parents.setdefault(ppid, []).append(int(stat.parent.name))
    found: list[int] = []
    seen, todo = {pid}, [pid]
    while todo:
        parent = todo.pop()
        children = set(parents.get(parent, []))
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                children.update(int(c) for c in task.read_text().split())
        for child in children - seen:
            seen.add(child)
            found.append(child)
            todo.append(child)
    return found


def _kind(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    if not argv or not argv[0]:
        return "gone"  # exiting or a zombie: its cmdline is empty
    head = os.path.basename(argv[0].decode(errors="replace"))
    text = b" ".join(argv).decode(errors="replace")
    if head.startswith("ffmpeg"):
        return "ffmpeg"
    if "resource_tracker" in text:
        return "resource_tracker"
    if "multiprocessing" in text or "spawn_main" in text:
        return "worker"
    return f"other:{head}"


def _parent(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[1])


def live_workers() -> set[int]:
    """The pids of this process's live pool workers (of any pool): its own children only, so a worker's
    child caught between fork and exec (it still looks like a worker) is not counted."""
    me, found = os.getpid(), set()
    for pid in descendants(me):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if _parent(pid) == me and _kind(pid) == "worker":
                found.add(pid)
    return found


class TreeSampler(threading.Thread):
    """Every interval_s (50 ms): peak VmHWM / VmRSS per descendant process, with its kind (worker, ffmpeg, ...)."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, dict[str, int | str]] = {}
        self.samples = 0
        self.interval_s = interval_s
        self._stop_flag = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_flag.is_set():
            for pid in descendants(me):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    # Re-classified every time: a child seen between fork and exec still looks like its
                    # Python parent; after exec it is a fresh address space (VmHWM restarts), so a new entry.
                    kind = _kind(pid)
                    if kind == "gone":
                        continue
                    entry = self.peaks.get(pid)
                    if entry is None or entry["kind"] != kind:
                        entry = self.peaks[pid] = {"kind": kind, "hwm": 0, "rss": 0}
                    st = vm_status(pid)
                    entry["hwm"] = max(int(entry["hwm"]), st.get("VmHWM", 0))
                    entry["rss"] = max(int(entry["rss"]), st.get("VmRSS", 0))
            self.samples += 1
            self._stop_flag.wait(self.interval_s)

    def stop(self) -> dict[str, dict[str, int]]:
        self._stop_flag.set()
        self.join()
        by_kind: dict[str, dict[str, int]] = {}
        for entry in self.peaks.values():
            agg = by_kind.setdefault(str(entry["kind"]), {"count": 0, "hwm": 0, "rss": 0})
            agg["count"] += 1
            agg["hwm"] = max(agg["hwm"], int(entry["hwm"]))
            agg["rss"] = max(agg["rss"], int(entry["rss"]))
        return by_kind


def with_sampler(
    fn: Callable[[], object], interval_s: float = SAMPLE_INTERVAL_S
) -> tuple[object, dict[str, dict[str, int]], int]:
    sampler = TreeSampler(interval_s)
    sampler.start()
    try:
        result = fn()
    finally:
        by_kind = sampler.stop()
    return result, by_kind, sampler.samples


def _stat_cpu_s(pid: int) -> float:
    """utime + stime of a live process and cutime + cstime of its reaped children, from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return sum(int(v) for v in fields[11:15]) / _CLOCK_TICKS


def tree_cpu_seconds() -> float:
    """CPU time (user + system) of this process and of every descendant, live or reaped.

    A warm pool's workers stay alive, so getrusage(RUSAGE_CHILDREN) never sees them nor the ffmpeg
    children they reap; their /proc counters do. Take differences between quiet moments (no ffmpeg
    running), or a live ffmpeg would be counted now and again inside its parent's cutime once reaped.
    """
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += _stat_cpu_s(pid)
    return total
