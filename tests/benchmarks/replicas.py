"""Two training replicas on one PostgreSQL job store, two preprocessors behind one target, as real
processes on one storage root: watch lag across replicas, step time with watchers spread over both
replicas against none, seconds from a replica's SIGKILL to its job's resumed steps on the other, and what
a preprocessor killed mid-job costs the job, in one run (not a CI gate).

  python -m tests.benchmarks.replicas [--watchers 200] [--steps 100] [--reps 2] [--lease 5] [--stop-after N]
                                     [--watch-only]

Lag: a watcher on each replica follows every job; an event's lag is the time it reached the watcher
(time.time()) minus the time the holder stamped on it (one machine, one clock): on the holder's own
replica (the baseline) and on the other one, where it comes through the store's notice. Step time: the
wall time between consecutive step events, warm-up steps dropped, runs with and without watchers
alternating --reps times (half the watchers on each replica, real gRPC clients in separate processes).
Failover: the holder is killed (SIGKILL) at a step; the figures are the seconds to the survivor's
`resumed` event and to its first new step. Preprocessor: the one serving a job is killed after its first
sample; the job's total time is compared with an undisturbed run (the latent cache emptied between, the
preprocessors run without their cache, so both do the same work).

Preconditions (PreconditionFailed when false): every job ended as asked with one step event per step;
the watchers received every event once, in order, and were attached for the steps measured; the killed
replica held the job and the other one resumed it; the killed preprocessor was serving the job, mid-way,
and the job asked the other one again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.demo_dataset import make_demo_dataset
from shared.request.json_input import input_from_json
from tests.benchmarks.preconditions import Preconditions
from tests.benchmarks.watchers import JOB_DONE, REPO, WATCHED, step_times
from tests.e2e.processes import ServiceProcess, train_service
from tests.postgres_server import PostgresServer
from train_svc.preprocess_retry import LOST_CODE

HELD = "the killed replica held the job and the other one resumed it"
PREPROCESS_KILLED = "the killed preprocessor was serving the job, mid-way, and the job asked the other one again"


@dataclass
class Cluster:
    preprocessors: list[ServiceProcess]
    replicas: list[ServiceProcess]
    storage: Path
    request: dict


@dataclass
class Figures:
    lag_same: list[float] = field(default_factory=list)
    lag_other: list[float] = field(default_factory=list)
    steps: dict[int, list[float]] = field(default_factory=dict)  # watchers -> step seconds
    failover: tuple[float, float] = (0.0, 0.0)  # to the resumed event, to the first new step
    preprocess: tuple[float, float] = (0.0, 0.0)  # job seconds disturbed, undisturbed


def _holder(cluster: Cluster, job_id: str, timeout: float = 300) -> int:
    """The replica that claimed the job last, from their logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        claims = []
        for index, replica in enumerate(cluster.replicas):
            for line in replica.log_path.read_text(errors="replace").splitlines():
                if job_id in line and '"job claimed"' in line:
                    claims.append((json.loads(line)["timestamp"], index))
        if claims:
            return max(claims)[1]
        time.sleep(0.05)
    raise AssertionError(f"no replica claimed {job_id}")


async def _follow(target: str, name: str) -> list[tuple[float, pb.WatchTrainingJobResponse]]:
    """Every event of the job to its end, with the time.time() it arrived."""
    arrivals = []
    async with grpc.aio.insecure_channel(target) as channel:
        async for event in pb_grpc.TrainingServiceStub(channel).WatchTrainingJob(pb.WatchTrainingJobRequest(name=name)):
            if not event.HasField("heartbeat"):
                arrivals.append((time.time(), event))
    return arrivals


async def _create(target: str, request: dict) -> str:
    async with grpc.aio.insecure_channel(target) as channel:
        job = await pb_grpc.TrainingServiceStub(channel).CreateTrainingJob(
            pb.CreateTrainingJobRequest(input=input_from_json(request))
        )
    return job.name


async def _cancel_at(target: str, name: str, step: int) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        async for event in stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=name)):
            if event.HasField("step") and event.step.step >= step:
                await stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=name))
                return


def _check_done(events: list[pb.WatchTrainingJobResponse], steps: int, stop_after: int | None, checks) -> None:
    stepped = [e.step.step for e in events if e.HasField("step")]
    final = [e.state_change.state for e in events if e.HasField("state_change")][-1:]
    if stop_after is None:
        done = final == [pb.TrainingJob.State.STATE_SUCCEEDED] and len(stepped) == steps
    else:
        done = final == [pb.TrainingJob.State.STATE_CANCELLED] and len(stepped) >= stop_after
    checks.require(JOB_DONE, done and stepped == list(range(1, len(stepped) + 1)), f"{final}, {len(stepped)} steps")


def _lags(arrivals: list[tuple[float, pb.WatchTrainingJobResponse]]) -> list[float]:
    return [at - event.time.ToNanoseconds() / 1e9 for at, event in arrivals if event.HasField("step")]


async def _watched_run(cluster: Cluster, watchers: int, stop_after: int | None, checks, figures: Figures) -> None:
    """One job with a lag watcher on each replica and `watchers` more, half on each."""
    targets = [replica.target for replica in cluster.replicas]
    name = await _create(targets[0], cluster.request)
    holder = await asyncio.to_thread(_holder, cluster, name.split("/")[1])
    clients = []
    for index in range(2 if watchers else 0):
        command = [sys.executable, "-m", "tests.benchmarks.watcher_clients", targets[index], name, str(watchers // 2)]
        clients.append(subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True))
    stop = [asyncio.create_task(_cancel_at(targets[holder], name, stop_after))] if stop_after else []
    same, other = await asyncio.gather(_follow(targets[holder], name), _follow(targets[1 - holder], name))
    await asyncio.gather(*stop)
    events = [event for _, event in same]
    _check_done(events, cluster.request["number_of_steps"], stop_after, checks)
    checks.require(WATCHED, [e.SerializeToString() for _, e in other] == [e.SerializeToString() for e in events])
    attached = None
    for process in clients:
        out, _ = await asyncio.to_thread(process.communicate, timeout=900)
        report = json.loads(out.splitlines()[-1]) if out.strip() else {"attached": []}
        checks.require(WATCHED, process.returncode == 0 and len(report["attached"]) == watchers // 2)
        attached = max([attached or 0.0, *report["attached"]])
    figures.lag_same += _lags(same)
    figures.lag_other += _lags(other)
    figures.steps.setdefault(watchers, []).extend(step_times(events, attached, checks))


async def _failover(cluster: Cluster, kill_at: int, checks, figures: Figures) -> None:
    name = await _create(cluster.replicas[0].target, cluster.request)
    holder = await asyncio.to_thread(_holder, cluster, name.split("/")[1])
    survivor = cluster.replicas[1 - holder]
    watch = asyncio.create_task(_follow(survivor.target, name))
    async with grpc.aio.insecure_channel(survivor.target) as channel:
        async for event in pb_grpc.TrainingServiceStub(channel).WatchTrainingJob(pb.WatchTrainingJobRequest(name=name)):
            if event.HasField("step") and event.step.step >= kill_at:
                break
    cluster.replicas[holder].kill()
    killed = time.time()
    arrivals = await watch
    events = [event for _, event in arrivals]
    _check_done(events, cluster.request["number_of_steps"], None, checks)
    resumed = [(at, e.resumed) for at, e in arrivals if e.HasField("resumed")]
    checks.require(HELD, len(resumed) == 1 and _holder(cluster, name.split("/")[1]) == 1 - holder)
    at, note = resumed[0]
    new_step = next(t for t, e in arrivals if e.HasField("step") and e.step.step == note.last_step + 1)
    figures.failover = (at - killed, new_step - killed)
    await asyncio.to_thread(cluster.replicas[holder].start)


async def _timed_job(
    cluster: Cluster, request: dict, meanwhile=None
) -> tuple[str, float, list[pb.WatchTrainingJobResponse]]:
    """Create a job and follow it to its end: (name, seconds, events). `meanwhile(job id)` runs in a thread
    while the job runs."""
    started = time.monotonic()
    name = await _create(cluster.replicas[0].target, request)
    follow = asyncio.create_task(_follow(cluster.replicas[0].target, name))
    if meanwhile is not None:
        await asyncio.to_thread(meanwhile, name.split("/")[1])
    arrivals = await follow
    return name, time.monotonic() - started, [event for _, event in arrivals]


def _kill_serving(cluster: Cluster, job_id: str, checks: Preconditions) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for preprocessor in cluster.preprocessors:
            mine = [line for line in preprocessor.log_path.read_text(errors="replace").splitlines() if job_id in line]
            if any("sample_written" in line for line in mine):
                preprocessor.kill()
                checks.require(PREPROCESS_KILLED, not any("dataset_preprocessed" in line for line in mine))
                return
        time.sleep(0.01)
    raise AssertionError(f"no preprocessor wrote a sample of {job_id}")


async def _preprocessor_lost(cluster: Cluster, checks, figures: Figures) -> None:
    request = {**cluster.request, "learning_rate": 2e-4, "number_of_frames": 33}  # long enough to kill mid-way
    name, disturbed, events = await _timed_job(cluster, request, lambda job_id: _kill_serving(cluster, job_id, checks))
    _check_done(events, request["number_of_steps"], None, checks)
    lost = [e for e in events if e.HasField("warning") and e.warning.code == LOST_CODE]
    checks.require(PREPROCESS_KILLED, len(lost) == 1, f"{len(lost)} PREPROCESSOR_LOST warnings in {name}")
    for preprocessor in cluster.preprocessors:
        if preprocessor.proc is not None and preprocessor.proc.poll() is not None:
            await asyncio.to_thread(preprocessor.start)
    shutil.rmtree(cluster.storage / "cache" / "latents", ignore_errors=True)
    _, undisturbed, events = await _timed_job(cluster, request)
    _check_done(events, request["number_of_steps"], None, checks)
    figures.preprocess = (disturbed, undisturbed)


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def measure(args: argparse.Namespace, checks: Preconditions, work: Path) -> Figures:
    server = PostgresServer()
    archive = make_demo_dataset(work / "clips" / "clips.zip", clips=5, seconds=3.0, size=(384, 384))
    storage = work / "storage"
    request = {
        "training_data_url": str(archive),
        "rank": 8,
        "number_of_steps": args.steps,
        "number_of_frames": args.frames,
        "resolution": "low",
        "aspect_ratio": "1:1",
    }
    prep_args = ["--storage", str(storage), "--allow-local-root", str(archive.parent), "--workers", "1", "--no-cache"]
    preprocessors = [ServiceProcess("preprocess_svc", prep_args, work / f"preprocess{i}.log") for i in range(2)]
    replicas: list[ServiceProcess] = []
    try:
        for preprocessor in preprocessors:
            preprocessor.start()
        target = "ipv4:" + ",".join(p.target for p in preprocessors)
        url = server.database()
        extra = ("--job-store", url, "--lease-seconds", str(args.lease), "--checkpoint-every", "10")
        for index in range(2):
            replicas.append(
                train_service(storage, target, work / f"train{index}.log", *extra, allow_root=archive.parent)
            )
            replicas[-1].start()
        cluster = Cluster(preprocessors, replicas, storage, request)
        figures = Figures()
        for rep in range(args.reps):
            for watchers in (0, args.watchers) if rep % 2 == 0 else (args.watchers, 0):
                await _watched_run(cluster, watchers, args.stop_after, checks, figures)
        if not args.watch_only:
            await _failover(cluster, min(25, args.steps // 2), checks, figures)
            await _preprocessor_lost(cluster, checks, figures)
        return figures
    finally:
        for process in [*replicas, *preprocessors]:
            process.stop()
        server.stop()


def main(argv: list[str] | None = None) -> Preconditions:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=200, help="spread evenly over the two replicas")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--lease", type=float, default=5.0, help="--lease-seconds of the replicas")
    parser.add_argument("--stop-after", type=int, default=None, help="cancel the watched jobs after this step")
    parser.add_argument(
        "--watch-only", action="store_true", help="lag and watchers only: no failover, no lost preprocessor"
    )
    args = parser.parse_args(argv)
    checks = Preconditions("replicas")
    with tempfile.TemporaryDirectory(prefix="ltx-replicas-") as tmp:
        figures = asyncio.run(measure(args, checks, Path(tmp)))
    none, many = statistics.median(figures.steps[0]), statistics.median(figures.steps[args.watchers])
    same, other = figures.lag_same, figures.lag_other
    for where, lags in (("the holder's replica", same), ("the other replica", other)):
        p50, p95 = _percentile(lags, 50) * 1000, _percentile(lags, 95) * 1000
        print(f"watch lag of step events on {where}: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({len(lags)} events)")
    ratio = many / none
    print(
        f"median step: {none * 1000:.1f} ms without watchers, {many * 1000:.1f} ms with {args.watchers} ({ratio:.3f}x)"
    )
    if not args.watch_only:
        print(
            f"failover (lease {args.lease:g} s): {figures.failover[0]:.2f} s from SIGKILL to the resumed event, "
            f"{figures.failover[1]:.2f} s to the first new step"
        )
        disturbed, undisturbed = figures.preprocess
        print(
            f"preprocessor killed mid-job: the job took {disturbed:.1f} s against {undisturbed:.1f} s undisturbed "
            f"({disturbed - undisturbed:+.1f} s)"
        )
    print(checks.summary())
    return checks


if __name__ == "__main__":
    main()
