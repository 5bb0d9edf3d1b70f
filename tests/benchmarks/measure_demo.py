"""Measure a demo-sized run with each service in its own process (not a CI gate; prints figures).

  python -m tests.benchmarks.measure_demo [--steps 100]

Starts `python -m preprocess_svc` and `python -m train_svc --base-model ltx2.3-tiny` on free loopback
ports, submits the demo dataset with `ltx-trainer train --target`, and reports the wall time of the
whole run, the time per training step (median of the step events), and the peak resident memory
(VmHWM) of each service process. The `ltx-trainer demo` wall time (the CLI starting both services as its
own child processes, dataset rendering included) is measured too, in the same run, for comparison.

Preconditions, checked as it runs (PreconditionFailed when false): both CLI runs exit 0; the demo
trained --steps steps (its progress reaches step N/N) and wrote its LoRA; the job on the service
processes succeeded with --steps step events and its LoRA, its dataset decoded and encoded (not
from a cache); the preprocess workers' memory was really sampled. --steps must be a valid request
(a multiple of 100).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.demo_dataset import make_demo_dataset
from tests.benchmarks.preconditions import Preconditions
from tests.e2e.processes import ServiceProcess, free_port
from train_svc.cli.demo_cmd import DEMO_REQUEST
from train_svc.export.outputs import LORA_FILE
from train_svc.models.tiny_preset import PRESET_NAME, ensure_tiny_preset

CLI = "train_svc.cli"  # python -m: the ltx-trainer command
CLI_OK = "both ltx-trainer runs exited 0"
DEMO_TRAINED = "the demo trained the asked steps (its progress reaches N/N) and wrote its LoRA"
SERVICES_TRAINED = "the job on the service processes succeeded with one step event per step and its LoRA"
DECODED = "the job's dataset was decoded and encoded, not taken from a cache"
WORKERS_SAMPLED = "the preprocess workers' memory was sampled"


@contextlib.contextmanager
def service_process(module: str, args: list[str], log: Path):
    """`python -m module args` on a free port until the block ends: (its Popen, its port)."""
    service = ServiceProcess(module, args, log, port=free_port())
    service.start()
    try:
        yield service.proc, service.port
    finally:
        service.stop()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


class ChildrenPeakRss(threading.Thread):
    """Samples the resident memory of a process's children (the preprocessing workers) until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.peak_mib = 0.0
        self.samples = 0  # samples that found at least one child
        self._stop_flag = threading.Event()

    def _children_rss(self) -> list[float]:
        found = []
        # Children are listed per thread; the pool is started from a worker thread, not the main one.
        for children in Path(f"/proc/{self.pid}/task").glob("*/children"):
            with contextlib.suppress(OSError, RuntimeError):
                found += [peak_rss_mib(int(child)) for child in children.read_text().split()]
        return found

    def run(self) -> None:
        while not self._stop_flag.is_set():
            found = self._children_rss()
            self.samples += bool(found)
            self.peak_mib = max([self.peak_mib, *found])
            time.sleep(self.interval_s)

    def stop(self) -> float:
        self._stop_flag.set()
        self.join()
        return self.peak_mib


@dataclass(frozen=True)
class DemoFigures:
    demo_wall_s: float  # `ltx-trainer demo`: its own services started and stopped, its dataset rendered
    wall_s: float  # `ltx-trainer train --target`, services as processes
    step_seconds: list[float]  # of the job on the service processes, from its step events
    train_rss_mib: float
    pre_rss_mib: float
    worker_rss_mib: float  # largest preprocess worker, sampled


def run_cli(args: list[str], what: str, checks: Preconditions) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", CLI, *args], capture_output=True, text=True)
    checks.require(CLI_OK, done.returncode == 0, f"{what} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def check_job(events: list[pb.WatchTrainingJobResponse], steps: int, lora: Path, checks: Preconditions) -> None:
    final = [e.state_change.state for e in events if e.HasField("state_change")][-1:]
    step_events = [e for e in events if e.HasField("step")]
    checks.require(
        SERVICES_TRAINED,
        final == [pb.TrainingJob.State.STATE_SUCCEEDED] and len(step_events) == steps and lora.is_file(),
        f"final state {final}, {len(step_events)} step events of {steps}, {lora} exists: {lora.is_file()}",
    )
    ready = [e.dataset_ready for e in events if e.HasField("dataset_ready")]
    encoded = [e.sample_encoded for e in events if e.HasField("sample_encoded")]
    checks.require(
        DECODED,
        len(ready) == 1 and not ready[0].from_cache and encoded and not any(e.from_cache for e in encoded),
        f"dataset ready from cache: {[r.from_cache for r in ready]}, samples from cache: "
        f"{[e.from_cache for e in encoded]}",
    )


def measure_demo(root: Path, steps: int, checks: Preconditions) -> DemoFigures:
    """Both runs in `root` (a fresh folder): `ltx-trainer demo`, then the job on the service processes."""
    ensure_tiny_preset()
    archive = make_demo_dataset(root / "dataset.zip")
    request = {"training_data_url": str(archive), "number_of_steps": steps, **DEMO_REQUEST}
    (root / "request.json").write_text(json.dumps(request))

    started = time.perf_counter()
    demo = run_cli(["demo", "--out", str(root / "demo"), "--steps", str(steps)], "ltx-trainer demo", checks)
    demo_wall = time.perf_counter() - started
    demo_lora = root / "demo" / "outputs" / LORA_FILE
    checks.require(
        DEMO_TRAINED,
        f"step {steps}/{steps} " in demo.stderr and demo_lora.is_file(),
        f"no 'step {steps}/{steps}' in its output, or no {demo_lora}: {demo.stderr[-1000:]}",
    )

    storage = root / "storage"
    allowed = ["--allow-local-root", str(root)]  # the archive's folder (the storage inside it stays unreadable)
    pre_args = ["--storage", str(storage), *allowed]
    with service_process("preprocess_svc", pre_args, root / "preprocess.log") as (pre, pre_port):
        train_args = ["--storage", str(storage), "--preprocess-target", f"127.0.0.1:{pre_port}", *allowed]
        train_args += ["--base-model", PRESET_NAME]
        with service_process("train_svc", train_args, root / "train.log") as (train, train_port):
            target = f"127.0.0.1:{train_port}"
            workers = ChildrenPeakRss(pre.pid)
            workers.start()
            started = time.perf_counter()
            cli = run_cli(
                ["train", str(root / "request.json"), "--out", str(root / "out"), "--target", target],
                "ltx-trainer train --target",
                checks,
            )
            wall = time.perf_counter() - started
            job_name = next(line.split()[1] for line in cli.stderr.splitlines() if line.startswith("created "))
            with grpc.insecure_channel(target) as channel:
                stub = pb_grpc.TrainingServiceStub(channel)
                events = list(stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job_name), timeout=60))
            train_rss, pre_rss = peak_rss_mib(train.pid), peak_rss_mib(pre.pid)
            worker_rss = workers.stop()
    check_job(events, steps, root / "out" / LORA_FILE, checks)
    checks.require(
        WORKERS_SAMPLED, workers.samples > 0 and worker_rss > 0, f"{workers.samples} samples, peak {worker_rss} MiB"
    )
    step_seconds = [e.step.step_seconds for e in events if e.HasField("step")]
    return DemoFigures(demo_wall, wall, step_seconds, train_rss, pre_rss, worker_rss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)
    checks = Preconditions("measure_demo")
    with tempfile.TemporaryDirectory(prefix="ltx-bench-") as tmp:
        f = measure_demo(Path(tmp), args.steps, checks)
    steps = f.step_seconds
    rows = [
        ("ltx-trainer demo wall time (it starts its own services)", f"{f.demo_wall_s:.1f} s"),
        ("train --target wall time, services as processes", f"{f.wall_s:.1f} s"),
        (f"time per training step (median of {len(steps)})", f"{statistics.median(steps) * 1000:.0f} ms"),
        ("peak RSS train_svc", f"{f.train_rss_mib:.0f} MiB"),
        ("peak RSS preprocess_svc (server)", f"{f.pre_rss_mib:.0f} MiB"),
        ("peak RSS preprocess worker (largest, sampled)", f"{f.worker_rss_mib:.0f} MiB"),
    ]
    for label, value in rows:
        print(f"{label + ':':57s}{value}")
    print(checks.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
