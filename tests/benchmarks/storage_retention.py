"""Storage a service holds after N finished demo-sized jobs, without retention and after a retention sweep
(with the clock moved past every delay), and the same with the cache bounds set: one JSON line.

  python -m tests.benchmarks.storage_retention [--jobs 50] [--steps 100] [--retain-days 7]
      [--retain-outputs-days 30] [--generation-ttl-hours 24] [--cache-max-bytes 2000000]

Both services run in-process on loopback ports (tests.service_stack, authentication on), on the tiny
preset. Each job trains `--steps` steps (100, the least a request may ask) on one of 8 small archives (so
later jobs find their dataset in the caches, as resubmissions do), with one validation prompt (a preview
per job) and a checkpoint every 50 steps; every fifth job is cancelled after its first checkpoint (a
cancelled job keeps it). One generation is made per ten jobs. Sizes are bytes per top-level storage
folder and in total, a file hard-linked twice counted once in each: a dataset's bundles are also linked
into the preprocess cache, so the folders add up to more than the total.

Configurations: `no_retention` (as the jobs left it), `retention` (the same storage after one sweep as of
now + the longest delay + 1 day), and `retention_and_cache_bounds` (a second run of the same jobs on fresh
storage with --preprocess-cache-max-bytes and --latent-cache-max-bytes at `--cache-max-bytes`, then the
same sweep; `--cache-max-bytes 0` leaves this run out, halving the time).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.api import common_pb2
from shared.api import generation_pb2 as gen_pb
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset
from shared.disk_usage import bytes_under
from shared.logs import configure_logging, log_level_from_env
from tests.benchmarks.preconditions import Preconditions
from tests.principals import make_principals
from tests.service_stack import Stack, service_stack
from train_svc.job_run.settings import RunSettings
from train_svc.retention.settings import RetentionSettings
from train_svc.retention.sweep import RetentionSweep

ENDED = "every job ended as asked (SUCCEEDED, or CANCELLED after its first checkpoint)"
SWEPT = "after the sweep no job has a checkpoint, dataset or output left, and no generation is left"
ARCHIVES = 8
CHECKPOINT_EVERY = 50
CANCEL_EVERY = 5  # every fifth job is cancelled after its first checkpoint
GENERATION_EVERY = 10


def storage_bytes(storage: Path) -> dict[str, int]:
    """Bytes per top-level folder of `storage` (the job store's own folder included), and their total."""
    sizes = {entry.name: bytes_under([entry]) for entry in sorted(storage.iterdir()) if entry.is_dir()}
    return {**sizes, "total": bytes_under([storage])}


def _archives(folder: Path) -> list[Path]:
    return [
        make_demo_dataset(folder / f"clips{i}.zip", clips=2 + i % 2, seconds=1.0 + 0.25 * (i // 2), size=(112, 112))
        for i in range(ARCHIVES)
    ]


def _run_job(stack: Stack, archive: Path, steps: int, cancel: bool) -> pb.TrainingJob:
    stub = stack.stub()
    request = pb.TrainingInput(
        training_data_url=str(archive),
        rank=8,
        number_of_steps=steps,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
        validation=[pb.ValidationPrompt(prompt="a small test clip")],
        validation_number_of_frames=9,
        validation_resolution=common_pb2.RESOLUTION_LOW,
    )
    job = stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=request))
    for event in stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job.name), timeout=1800):
        if cancel and event.HasField("checkpoint"):
            stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=job.name))
            cancel = False
    return stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))


def _generate(stack: Stack, job: pb.TrainingJob) -> None:
    request = gen_pb.GenerateVideoRequest(
        prompt="a small test clip", job=job.name, number_of_frames=9, resolution=common_pb2.RESOLUTION_LOW, steps=2
    )
    for _ in stack.stub().GenerateVideo(request, timeout=600):
        pass


def _jobs(stack: Stack, archives: list[Path], jobs: int, steps: int, checks: Preconditions) -> dict[str, int]:
    states: dict[str, int] = {}
    for number in range(jobs):
        cancel = number % CANCEL_EVERY == CANCEL_EVERY - 1
        job = _run_job(stack, archives[number % len(archives)], steps, cancel)
        wanted = pb.TrainingJob.State.STATE_CANCELLED if cancel else pb.TrainingJob.State.STATE_SUCCEEDED
        checks.require(ENDED, job.state == wanted, f"{job.name}: {pb.TrainingJob.State.Name(job.state)}")
        state = pb.TrainingJob.State.Name(job.state)
        states[state] = states.get(state, 0) + 1
        if number % GENERATION_EVERY == 0 and job.state == pb.TrainingJob.State.STATE_SUCCEEDED:
            _generate(stack, job)
    return states


def _sweep(stack: Stack, retention: RetentionSettings) -> float:
    """One sweep as of now + the longest delay + 1 day; its seconds."""
    longest = max(timedelta(days=retention.retain_days), timedelta(days=retention.retain_outputs_days))
    longest = max(longest, timedelta(hours=retention.generation_ttl_hours))
    started = time.monotonic()
    RetentionSweep(stack.training.store, stack.storage, retention).run(datetime.now(UTC) + longest + timedelta(days=1))
    return time.monotonic() - started


def _configuration(
    work: Path, name: str, args: argparse.Namespace, archives: list[Path], cache_bounds: int, checks: Preconditions
) -> dict[str, Any]:
    storage = work / name / "storage"
    storage.mkdir(parents=True)
    principals = make_principals(work / name / "principals")
    retention = RetentionSettings(
        retain_days=args.retain_days,
        retain_outputs_days=args.retain_outputs_days,
        generation_ttl_hours=args.generation_ttl_hours,
    )
    run = RunSettings(preview_steps=2, checkpoint_every=CHECKPOINT_EVERY, latent_cache_max_bytes=cache_bounds)
    started = time.monotonic()
    with service_stack(
        storage,
        principals,
        allow_local_roots=(archives[0].parent,),
        preprocess_settings={"cache_max_bytes": cache_bounds},
        run=run,
    ) as stack:
        states = _jobs(stack, archives, args.jobs, args.steps, checks)
        before = storage_bytes(storage)
        sweep_s = _sweep(stack, retention)
        after = storage_bytes(storage)
    left = [*storage.glob("jobs/*/checkpoints"), *storage.glob("jobs/*/outputs"), *storage.glob("datasets/*")]
    left += [*storage.glob("generations/*/*")]
    checks.require(SWEPT, not left, ", ".join(str(path.relative_to(storage)) for path in left[:5]))
    return {"jobs": states, "run_s": round(time.monotonic() - started, 1), "sweep_s": round(sweep_s, 3)} | {
        "before_sweep": before,
        "after_sweep": after,
    }


def main(argv: list[str] | None = None) -> Preconditions:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--retain-days", type=float, default=7.0)
    parser.add_argument("--retain-outputs-days", type=float, default=30.0)
    parser.add_argument("--generation-ttl-hours", type=float, default=24.0)
    parser.add_argument("--cache-max-bytes", type=int, default=2_000_000, help="both cache bounds, third run")
    args = parser.parse_args(argv)
    checks = Preconditions("storage_retention")
    configure_logging(json=False, level=log_level_from_env("WARNING"))  # on stderr: stdout has the one line
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ltx-retention-") as tmp:
        work = Path(tmp)
        archives = _archives(work / "archives")
        plain = _configuration(work, "plain", args, archives, 0, checks)
        bounded = None
        if args.cache_max_bytes:
            bounded = _configuration(work, "bounded", args, archives, args.cache_max_bytes, checks)
    result = {
        "benchmark": "storage_retention",
        "jobs": args.jobs,
        "steps": args.steps,
        "retain_days": args.retain_days,
        "retain_outputs_days": args.retain_outputs_days,
        "generation_ttl_hours": args.generation_ttl_hours,
        "cache_max_bytes": args.cache_max_bytes,
        "job_states": plain["jobs"],
        "bytes": {"no_retention": plain["before_sweep"], "retention": plain["after_sweep"]},
        "sweep_s": {"retention": plain["sweep_s"]},
        "run_s": {"plain": plain["run_s"]},
        "total_s": round(time.monotonic() - started, 1),
    }
    if bounded is not None:
        result["bytes"] |= {
            "cache_bounds_only": bounded["before_sweep"],
            "retention_and_cache_bounds": bounded["after_sweep"],
        }
        result["sweep_s"]["retention_and_cache_bounds"] = bounded["sweep_s"]
        result["run_s"]["bounded"] = bounded["run_s"]
    print(json.dumps(result))
    print(checks.summary(), file=sys.stderr)
    return checks


if __name__ == "__main__":
    main()
