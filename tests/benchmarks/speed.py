"""Wall and CPU time of our pipeline against the ffmpeg floor, over the same clips, in alternating order.

Three sides are timed each rep: ours on a warm pool made once before the reps (how the running
service works), ours on a private pool made by the run itself (cold: spawn and imports included, as
in the tests), and the floor. CPU time covers this process and every descendant (process_tree).
Our runs have the dataset cache off (tests.benchmarks.ours); besides their own checks, the warm
pool must keep the same workers throughout (a cold run's pool is gone when it ends), every floor run
must read every frame, and each of our sides must take at least half the floor's CPU time.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from preprocess_svc.settings import PreprocessSettings
from preprocess_svc.worker_pool import WorkerPool
from tests.benchmarks.floor import run_floor
from tests.benchmarks.ours import OurRun, run_ours
from tests.benchmarks.preconditions import Preconditions
from tests.benchmarks.process_tree import live_workers, tree_cpu_seconds

WARM, COLD, FLOOR = "ours, warm pool", "ours, cold pool", "floor"
SIDES = (WARM, COLD, FLOOR)
GOAL = 1.25
# Our side runs the floor's very ffmpeg commands and more, so it takes at least the floor's CPU time; far
# below it, it did not decode (a cache hit takes about 1 % of it).
MIN_CPU_RATIO = 0.5
WARM_POOL = "the warm pool's workers were all up before the reps, and the same processes after every run"
OURS_CPU = f"each of our sides took at least {MIN_CPU_RATIO:g}x the floor's CPU time (it decoded the clips)"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class SideTimes:
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall_s)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_s)


@dataclass
class SpeedResult:
    sides: dict[str, SideTimes]
    warm_runs: list[OurRun]  # for the time before the pool
    full_floor_s: float | None

    def ratio(self, side: str) -> float:
        return self.sides[side].wall_median / self.sides[FLOOR].wall_median

    def cpu_ratio(self, side: str) -> float:
        return self.sides[side].cpu_median / self.sides[FLOOR].cpu_median


def measure_speed(
    settings: PreprocessSettings,
    argvs: list[list[str]],
    *,
    workers: int,
    reps: int,
    expected_clips: int,
    frame_bytes: int,
    full_floor_argvs: list[list[str]] | None,
    checks: Preconditions,
) -> SpeedResult:
    """frame_bytes: what one floor command gives (frames x bucket x 3)."""
    sides = {side: SideTimes() for side in SIDES}
    warm_runs: list[OurRun] = []
    full_floor_s = None
    others = live_workers()  # pools this process already has (none when run as a script)
    pool = WorkerPool(workers)
    pool.start(wait=True)  # as the service does when it starts, before any request
    pool_pids = live_workers() - others
    checks.require(WARM_POOL, len(pool_pids) == workers, f"{len(pool_pids)} live workers after start, {workers} asked")
    try:
        with tempfile.TemporaryDirectory(prefix="ltx-bench-store-") as store:

            def ours(side: str) -> OurRun:
                worker_pool = pool if side == WARM else None
                return run_ours(settings, Path(store), worker_pool, checks=checks, expected_samples=expected_clips)

            def check_pool(side: str) -> None:  # a /proc scan: after the run's CPU time is taken
                now = live_workers() - others
                checks.require(
                    WARM_POOL, now == pool_pids, f"after {side}: workers {sorted(now)}, pool {sorted(pool_pids)}"
                )

            # One untimed run of each side first (page cache, first imports in this process).
            for side in (WARM, COLD):
                ours(side)
                check_pool(side)
            run_floor(argvs, workers, checks=checks, frame_bytes=frame_bytes)
            for rep in range(reps):
                order = SIDES[rep % len(SIDES) :] + SIDES[: rep % len(SIDES)]
                for side in order:
                    cpu0 = tree_cpu_seconds()
                    if side == FLOOR:
                        wall, _ = run_floor(argvs, workers, checks=checks, frame_bytes=frame_bytes)
                    else:
                        run = ours(side)
                        if side == WARM:
                            warm_runs.append(run)
                        wall = run.wall_s
                    sides[side].cpu_s.append(tree_cpu_seconds() - cpu0)
                    sides[side].wall_s.append(wall)
                    if side != FLOOR:
                        check_pool(side)
                    print(
                        f"  rep {rep + 1} {side:15s}: {wall:7.2f} s wall, {sides[side].cpu_s[-1]:6.2f} s CPU   "
                        f"(load {loadavg()})",
                        flush=True,
                    )
            if full_floor_argvs is not None:
                full_floor_s = run_floor(full_floor_argvs, workers, checks=checks, frame_bytes=None)[0]
    finally:
        pool.shutdown()
    result = SpeedResult(sides=sides, warm_runs=warm_runs, full_floor_s=full_floor_s)
    floor_cpu = result.sides[FLOOR].cpu_median
    for side in (WARM, COLD):
        cpu = result.sides[side].cpu_median
        checks.require(OURS_CPU, cpu >= MIN_CPU_RATIO * floor_cpu, f"{side}: {cpu:.2f} s CPU, floor {floor_cpu:.2f} s")
    return result


def print_speed(result: SpeedResult, heading: str) -> None:
    print(heading)
    print(f"  {'':30s}{'median':>9s}   runs")
    labels = {WARM: "ours, warm pool (service)", COLD: "ours, cold pool (own pool)", FLOOR: "floor (ffmpeg, same argv)"}
    for side in SIDES:
        times = result.sides[side].wall_s
        print(f"  {labels[side]:30s}{statistics.median(times):8.2f}s   " + ", ".join(f"{t:.2f}" for t in times))
    if result.full_floor_s is not None:
        print(f"  {'floor, full clip (1 run)':30s}{result.full_floor_s:8.2f}s")
    for side in SIDES:
        cpu = result.sides[side].cpu_s
        label = f"CPU s, {side} (all processes)" if side != FLOOR else "CPU s, floor"
        print(f"  {label:30s}{statistics.median(cpu):8.2f}s   " + ", ".join(f"{t:.2f}" for t in cpu))
    floor_wall = result.sides[FLOOR].wall_median
    for side in (WARM, COLD):
        ratio = result.ratio(side)
        verdict = "OK" if ratio <= GOAL else "ABOVE GOAL"
        print(
            f"  {side}: ratio ours/floor = {ratio:.3f}  (goal <= {GOAL}: {verdict}); "
            f"overhead {result.sides[side].wall_median - floor_wall:+.2f} s; CPU ratio {result.cpu_ratio(side):.3f}"
        )
    print("  (the CPU ratio is less sensitive to other load on the machine than wall time)")
