"""Step time with 200 watchers attached versus none, and time to the first step of a cached
resubmission versus a first submission, on the tiny preset in one run (not a CI gate).

  python -m tests.benchmarks.watchers [--watchers 200] [--steps 100] [--frames 17] [--reps 2] [--stop-after N]

Both services run on loopback ports, started as `ltx-trainer train` starts them. The watchers are
real gRPC clients in a separate process (a client elsewhere costs the service the same), each following
the job from its first event. Runs with and without watchers alternate --reps times on the same archive
(its bundles and latents cached after the first); a step's time is the wall time between consecutive step
events (the service's own clock), warm-up steps dropped, so everything the service spends on watchers
counts. The first submission is the first run; the cached resubmission changes only the learning rate.
A request needs at least 100 steps; --stop-after N cancels each job once it has reported step N (the
tiny test's way to time fewer steps; the steps timed are the same kind).

Preconditions, checked as it runs (PreconditionFailed when false): every job succeeded with one step
event per step (or, with --stop-after, was cancelled after at least N steps); every watcher received
every event once, in order; a run's steps count as "with watchers" only from the moment the last of
them was attached (earlier steps are dropped like the warm-up), and at least half of the steps after
the warm-up must remain; the first submission decoded and encoded its dataset, the resubmission took
both from the caches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.demo_dataset import make_demo_dataset
from shared.request.defaults import AspectRatio, Resolution, pixel_size
from shared.request.json_input import input_from_json
from tests.benchmarks.preconditions import Preconditions
from train_svc.cli.local_services import local_services
from train_svc.models.tiny_preset import PRESET_NAME

WARM_UP_STEPS = 5
REPO = Path(__file__).resolve().parents[2]  # the watcher clients run as `python -m tests.benchmarks...` from here
JOB_DONE = "every job succeeded with one step event per step (or was cancelled after --stop-after steps)"
WATCHED = "every watcher received every event once, in order"
ATTACHED = "every watcher was attached for the measured steps, at least half of those after the warm-up"
FIRST_DECODED = "the first submission decoded and encoded its dataset"
CACHED = "the resubmission took its bundles and latents from the caches"


@dataclass(frozen=True)
class WatcherFigures:
    step_s: dict[int, list[float]]  # watchers -> measured step times of all its runs
    first: list[pb.WatchTrainingJobResponse]
    cached: list[pb.WatchTrainingJobResponse]

    def median(self, watchers: int) -> float:
        return statistics.median(self.step_s[watchers])


async def _run(
    stub, request: dict, watchers: int, target: str, checks: Preconditions, stop_after: int | None
) -> tuple[list[pb.WatchTrainingJobResponse], float | None]:
    """(the job's events, the time.time() at which the last watcher was attached; None without watchers)."""
    job = await stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=input_from_json(request)))
    clients = None
    if watchers:
        command = [sys.executable, "-m", "tests.benchmarks.watcher_clients", target, job.name, str(watchers)]
        clients = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    events = []
    cancelled = False
    async for event in stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job.name)):
        events.append(event)
        if stop_after is not None and not cancelled and event.HasField("step") and event.step.step >= stop_after:
            await stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=job.name))
            cancelled = True
    attached = None
    if clients is not None:
        out, _ = await asyncio.to_thread(clients.communicate, timeout=600)
        report = json.loads(out.splitlines()[-1]) if out.strip() else {"attached": [], "events": []}
        checks.require(
            WATCHED,
            clients.returncode == 0 and len(report["attached"]) == watchers,
            f"the watcher clients exited {clients.returncode}; {len(report['attached'])} of {watchers} reported",
        )
        attached = max(report["attached"])
    steps = [e for e in events if e.HasField("step")]
    final = [e.state_change.state for e in events if e.HasField("state_change")][-1:]
    if cancelled:
        done = final == [pb.TrainingJob.State.STATE_CANCELLED] and len(steps) >= stop_after
    else:
        done = final == [pb.TrainingJob.State.STATE_SUCCEEDED] and len(steps) == request["number_of_steps"]
    checks.require(
        JOB_DONE,
        done and [e.step.step for e in steps] == list(range(1, len(steps) + 1)),
        f"{job.name}: final state {final}, {len(steps)} step events of {request['number_of_steps']}, "
        f"cancelled after {stop_after}: {cancelled}",
    )
    return events, attached


def _seconds(a: pb.WatchTrainingJobResponse, b: pb.WatchTrainingJobResponse) -> float:
    return (b.time.ToNanoseconds() - a.time.ToNanoseconds()) / 1e9


def step_times(events: list[pb.WatchTrainingJobResponse], attached: float | None, checks: Preconditions) -> list[float]:
    """Seconds between consecutive step events after the warm-up and after the last watcher attached."""
    steps = [e for e in events if e.HasField("step")][WARM_UP_STEPS:]
    watched = [e for e in steps if attached is None or e.time.ToNanoseconds() / 1e9 > attached]
    checks.require(
        ATTACHED,
        len(watched) >= max(2, len(steps) // 2),
        f"only {len(watched)} of the {len(steps)} steps after the warm-up came after the last watcher attached",
    )
    return [_seconds(a, b) for a, b in zip(watched, watched[1:], strict=False)]


def to_first_step(events: list[pb.WatchTrainingJobResponse]) -> float:
    return _seconds(events[0], next(e for e in events if e.HasField("step")))


def check_caches(
    first: list[pb.WatchTrainingJobResponse], cached: list[pb.WatchTrainingJobResponse], checks: Preconditions
) -> None:
    for events, name, from_cache in ((first, FIRST_DECODED, False), (cached, CACHED, True)):
        ready = [e.dataset_ready.from_cache for e in events if e.HasField("dataset_ready")]
        encoded = [e.sample_encoded.from_cache for e in events if e.HasField("sample_encoded")]
        checks.require(
            name,
            ready == [from_cache] and bool(encoded) and all(e == from_cache for e in encoded),
            f"dataset ready from cache: {ready}, samples from cache: {encoded}",
        )


async def measure_watchers(
    *, watchers: int, steps: int, frames: int, reps: int, checks: Preconditions, stop_after: int | None = None
) -> WatcherFigures:
    with tempfile.TemporaryDirectory(prefix="ltx-watchers-") as tmp:
        archive = make_demo_dataset(Path(tmp) / "clips.zip", clips=2, seconds=1.0, size=(256, 256))
        base = {
            "training_data_url": str(archive),
            "rank": 8,
            "number_of_steps": steps,
            "number_of_frames": frames,
            "resolution": "low",
            "aspect_ratio": "1:1",
        }
        async with (
            local_services(Path(tmp) / "storage", PRESET_NAME, allow_local_roots=(archive.parent,)) as services,
            grpc.aio.insecure_channel(services.training_target) as channel,
        ):
            stub = pb_grpc.TrainingServiceStub(channel)
            target = services.training_target
            first, _ = await _run(stub, {**base, "learning_rate": 1e-4}, 0, target, checks, stop_after)
            cached, _ = await _run(stub, {**base, "learning_rate": 2e-4}, 0, target, checks, stop_after)
            check_caches(first, cached, checks)
            times: dict[int, list[float]] = {0: [], watchers: []}
            for rep in range(reps):
                for count in (0, watchers) if rep % 2 == 0 else (watchers, 0):
                    request = {**base, "learning_rate": 3e-4}
                    events, attached = await _run(stub, request, count, target, checks, stop_after)
                    times[count] += step_times(events, attached, checks)
    return WatcherFigures(times, first, cached)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--watchers", type=int, default=200)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--stop-after", type=int, default=None, help="cancel each job once it has reported this step")
    args = p.parse_args(argv)
    checks = Preconditions("watchers")
    figures = asyncio.run(
        measure_watchers(
            watchers=args.watchers,
            steps=args.steps,
            frames=args.frames,
            reps=args.reps,
            checks=checks,
            stop_after=args.stop_after,
        )
    )
    none, many = figures.median(0), figures.median(args.watchers)
    width, height = pixel_size(Resolution.LOW, AspectRatio.SQUARE_1_1)
    print(
        f"steps of {args.frames} frames {width}x{height}, rank 8, tiny preset, {args.reps} runs of "
        f"{args.stop_after or args.steps} steps each:"
    )
    print(f"  median step, no watchers:        {none * 1000:.1f} ms")
    print(f"  median step, {args.watchers} watchers:      {many * 1000:.1f} ms  ({many / none:.3f}x)")
    print("time from CreateTrainingJob to the first step:")
    first, cached = to_first_step(figures.first), to_first_step(figures.cached)
    print(f"  first submission:     {first:.2f} s")
    print(f"  cached resubmission:  {cached:.2f} s  ({cached / first:.3f}x)")
    print(checks.summary())


if __name__ == "__main__":
    main()
