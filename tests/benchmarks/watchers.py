"""Step time with 200 watchers attached versus none, and time to the first step of a cached
resubmission versus a first submission, on the tiny preset in one run (not a CI gate).

  python -m tests.benchmarks.watchers [--watchers 200] [--steps 100] [--frames 17] [--reps 2]

Both services run in this process on loopback ports, as `ltx-trainer train` runs them. The watchers are
real gRPC clients in a separate process (a client elsewhere costs the service the same), each following
the job from its first event. Runs with and without watchers alternate --reps times on the same archive
(its bundles and latents cached after the first); a step's time is the wall time between consecutive step
events (the service's own clock), warm-up steps dropped, so everything the service spends on watchers
counts. The first submission is the first run; the cached resubmission changes only the learning rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from train_svc.cli.local_services import local_services
from shared.demo_dataset import make_demo_dataset
from shared.request.json_input import input_from_json
from train_svc.models.tiny_preset import PRESET_NAME

WARM_UP_STEPS = 5


async def _run(stub, request: dict, watchers: int, target: str) -> list[pb.TrainingJobEvent]:
    job = await stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=input_from_json(request)))
    clients = None
    if watchers:
        command = [sys.executable, "-m", "tests.benchmarks.watcher_clients", target, job.name, str(watchers)]
        clients = subprocess.Popen(command)
    events = [e async for e in stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job.name))]
    if clients is not None and clients.wait(timeout=600) != 0:
        raise SystemExit("the watcher clients failed")
    if events[-1].state_change.state != pb.TrainingJob.State.SUCCEEDED:
        raise SystemExit(f"{job.name} did not succeed: {events[-1]}")
    return events


def _seconds(a: pb.TrainingJobEvent, b: pb.TrainingJobEvent) -> float:
    return (b.time.ToNanoseconds() - a.time.ToNanoseconds()) / 1e9


def step_times(events: list[pb.TrainingJobEvent]) -> list[float]:
    steps = [e for e in events if e.HasField("step")][WARM_UP_STEPS:]
    return [_seconds(a, b) for a, b in zip(steps, steps[1:], strict=False)]


def to_first_step(events: list[pb.TrainingJobEvent]) -> float:
    return _seconds(events[0], next(e for e in events if e.HasField("step")))


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="ltx-watchers-") as tmp:
        archive = make_demo_dataset(Path(tmp) / "clips.zip", clips=2, seconds=1.0, size=(256, 256))
        base = {
            "training_data_url": str(archive),
            "rank": 8,
            "number_of_steps": args.steps,
            "number_of_frames": args.frames,
            "resolution": "low",
            "aspect_ratio": "1:1",
        }
        async with (
            local_services(Path(tmp) / "storage", PRESET_NAME, allow_local_roots=(archive.parent,)) as services,
            grpc.aio.insecure_channel(services.training_target) as channel,
        ):
            stub = pb_grpc.TrainingServiceStub(channel)
            first = await _run(stub, {**base, "learning_rate": 1e-4}, 0, services.training_target)
            cached = await _run(stub, {**base, "learning_rate": 2e-4}, 0, services.training_target)
            times: dict[int, list[float]] = {0: [], args.watchers: []}
            for rep in range(args.reps):
                for count in (0, args.watchers) if rep % 2 == 0 else (args.watchers, 0):
                    events = await _run(stub, {**base, "learning_rate": 3e-4}, count, services.training_target)
                    times[count] += step_times(events)
    none, many = statistics.median(times[0]), statistics.median(times[args.watchers])
    print(f"steps of {args.frames} frames 256x256, rank 8, tiny preset, {args.reps} runs of {args.steps} steps each:")
    print(f"  median step, no watchers:        {none * 1000:.1f} ms")
    print(f"  median step, {args.watchers} watchers:      {many * 1000:.1f} ms  ({many / none:.3f}x)")
    print("time from CreateTrainingJob to the first step:")
    print(f"  first submission:     {to_first_step(first):.2f} s")
    ratio = to_first_step(cached) / to_first_step(first)
    print(f"  cached resubmission:  {to_first_step(cached):.2f} s  ({ratio:.3f}x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--watchers", type=int, default=200)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--reps", type=int, default=2)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
