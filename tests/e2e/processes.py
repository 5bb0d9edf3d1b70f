"""The services as real processes (python -m ...), their logs in files, for tests that kill and restart them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.grpc_util.channels import ClientCredentials, sync_channel
from shared.ready_file import ServiceDidNotStart, wait_for_ready_file
from train_svc.models.tiny_preset import PRESET_NAME


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """`python -m <module> <args> --port N`, logging to `log_path`; `start` waits until it serves (0: any free
    port, learnt from the service's --ready-file)."""

    def __init__(self, module: str, args: list[str], log_path: Path, port: int = 0):
        self.module, self.args, self.log_path, self.port = module, args, log_path, port
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> int:
        """Start and wait for the port it reports through --ready-file (a fresh file for each start)."""
        ready = self.log_path.with_name(f"{self.log_path.stem}.ready.json")
        ready.unlink(missing_ok=True)
        argv = [sys.executable, "-m", self.module, *self.args, "--port", str(self.port), "--ready-file", str(ready)]
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=os.environ,
                start_new_session=True,  # its own process group: `stop` also ends the children it leaves
            )
        try:
            self.port = wait_for_ready_file(ready, self.proc, timeout, self.module).port
        except ServiceDidNotStart as exc:
            raise AssertionError(f"{exc}; log: {self.log_path}") from None
        return self.port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL to the service alone, as a crash or the OOM killer would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (a clean stop, which ends the service's own workers), then SIGKILL to whatever of its
        process group is left, so no worker outlives the test holding its pipes."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def train_service(
    storage: Path, preprocess_target: str, log_path: Path, *extra: str, allow_root: Path | None = None
) -> ServiceProcess:
    """`allow_root`: a folder whose archives training_data_url may name (--allow-local-root)."""
    args = ["--storage", str(storage), "--preprocess-target", preprocess_target, "--base-model", PRESET_NAME]
    if allow_root is not None:
        args += ["--allow-local-root", str(allow_root)]
    return ServiceProcess("train_svc", [*args, *extra], log_path, port=free_port())


def wait_for_step(
    target: str, name: str, step: int, timeout: float = 600, credentials: ClientCredentials | None = None
) -> list[pb.WatchTrainingJobResponse]:
    """Watch a job until it has reported `step` (or ended); return the events seen."""
    seen: list[pb.WatchTrainingJobResponse] = []
    with sync_channel(target, credentials) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        for event in stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=timeout):
            seen.append(event)
            if event.WhichOneof("event") == "step" and event.step.step >= step:
                return seen
    raise AssertionError(f"{name} ended before step {step}")


def all_events(
    target: str, name: str, timeout: float = 900, after: int = 0, credentials: ClientCredentials | None = None
) -> list[pb.WatchTrainingJobResponse]:
    """Every event of a job after sequence `after`, up to its end (waits for the end); no heartbeats."""
    with sync_channel(target, credentials) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        request = pb.WatchTrainingJobRequest(name=name, after_sequence=after)
        return [e for e in stub.WatchTrainingJob(request, timeout=timeout) if e.WhichOneof("event") != "heartbeat"]


def get_job(target: str, name: str) -> pb.TrainingJob:
    with grpc.insecure_channel(target) as channel:
        return pb_grpc.TrainingServiceStub(channel).GetTrainingJob(pb.GetTrainingJobRequest(name=name), timeout=30)
