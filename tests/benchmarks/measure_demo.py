"""Measure a demo-sized run with each service in its own process (not a CI gate; prints figures).

  python -m tests.benchmarks.measure_demo [--steps 100]

Starts `python -m preprocess_svc` and `python -m train_svc --base-model ltx2.3-tiny` on free loopback
ports, submits the demo dataset with `ltx-trainer train --target`, and reports the wall time of the
whole run, the time per training step (median of the step events), and the peak resident memory
(VmHWM) of each service process. The `ltx-trainer demo` wall time (both services in one process) is
measured too, in the same run, for comparison.
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
from pathlib import Path

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from train_svc.cli.demo_cmd import DEMO_REQUEST
from shared.demo_dataset import make_demo_dataset
from tests.e2e.processes import ServiceProcess, free_port
from train_svc.models.tiny_preset import PRESET_NAME, ensure_tiny_preset


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
            self.peak_mib = max([self.peak_mib, *self._children_rss()])
            time.sleep(self.interval_s)

    def stop(self) -> float:
        self._stop_flag.set()
        self.join()
        return self.peak_mib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    ensure_tiny_preset()
    with tempfile.TemporaryDirectory(prefix="ltx-bench-") as tmp:
        root = Path(tmp)
        archive = make_demo_dataset(root / "dataset.zip")
        request = {"training_data_url": str(archive), "number_of_steps": args.steps, **DEMO_REQUEST}
        (root / "request.json").write_text(json.dumps(request))

        started = time.perf_counter()
        demo = subprocess.run(
            [sys.executable, "-m", "train_svc.cli", "demo", "--out", str(root / "demo"), "--steps", str(args.steps)],
            capture_output=True,
            text=True,
        )
        demo_wall = time.perf_counter() - started
        if demo.returncode:
            print(demo.stderr, file=sys.stderr)
            return 1

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
                cli = subprocess.run(
                    [sys.executable, "-m", "train_svc.cli", "train", str(root / "request.json")]
                    + ["--out", str(root / "out"), "--target", target],
                    capture_output=True,
                    text=True,
                )
                wall = time.perf_counter() - started
                if cli.returncode:
                    print(cli.stderr, file=sys.stderr)
                    return 1
                job_name = next(line.split()[1] for line in cli.stderr.splitlines() if line.startswith("created "))
                with grpc.insecure_channel(target) as channel:
                    stub = pb_grpc.TrainingServiceStub(channel)
                    events = list(stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job_name), timeout=60))
                steps = [e.step.step_seconds for e in events if e.HasField("step")]
                train_rss, pre_rss = peak_rss_mib(train.pid), peak_rss_mib(pre.pid)
                worker_rss = workers.stop()
    print(f"ltx-trainer demo wall time (both services in-process): {demo_wall:.1f} s")
    print(f"train --target wall time, services as processes:        {wall:.1f} s")
    print(f"time per training step (median of {len(steps)}):              {statistics.median(steps) * 1000:.0f} ms")
    print(f"peak RSS train_svc:                                     {train_rss:.0f} MiB")
    print(f"peak RSS preprocess_svc (server):                       {pre_rss:.0f} MiB")
    print(f"peak RSS preprocess worker (largest, sampled):          {worker_rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
