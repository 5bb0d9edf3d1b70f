"""The CLI runs both services as child processes on ports they choose, and none outlives the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.ready_file import wait_for_ready_file
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration


def _processes_naming(text: str) -> list[int]:
    """Pids of live processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if text in cmdline and "zombie" not in state:
            found.append(int(entry.name))
    return found


def _serving(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
    return status == health_pb2.HealthCheckResponse.SERVING


def test_serve_starts_both_services_on_free_ports_and_they_die_with_the_cli(tmp_path: Path):
    storage = tmp_path / "storage-of-this-test"
    argv = [sys.executable, "-m", "train_svc.cli", "serve", "--port", "0", "--preprocess-port", "0"]
    argv += ["--storage", str(storage), "--base-model", PRESET_NAME]
    cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = cli.stdout.readline()  # "TrainingService on 127.0.0.1:N, PreprocessService on 127.0.0.1:M"
        targets = [word.rstrip(",") for word in line.split() if word.startswith("127.0.0.1:")]
        assert len(targets) == 2, line
        assert all(_serving(target) for target in targets)
        children = _processes_naming(str(storage))
        modules = {Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2] for pid in children}
        assert {b"preprocess_svc", b"train_svc"} <= modules, modules
        assert (storage / "logs" / "train_svc.log").stat().st_size > 0

        cli.send_signal(signal.SIGKILL)  # no chance to clean up: the kernel's parent-death signal must do it
        cli.wait(timeout=30)
        deadline = time.monotonic() + 60
        while _processes_naming(str(storage)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_naming(str(storage)) == []
    finally:
        cli.kill()
        for pid in _processes_naming(str(storage)):
            os.kill(pid, signal.SIGKILL)


def test_a_service_started_with_port_zero_reports_the_port_it_bound(tmp_path: Path):
    ready = tmp_path / "ready.json"
    argv = [sys.executable, "-m", "preprocess_svc", "--storage", str(tmp_path), "--port", "0", "--workers", "1"]
    service = subprocess.Popen([*argv, "--ready-file", str(ready)], stderr=subprocess.DEVNULL)
    try:
        info = wait_for_ready_file(ready, service, 120, "preprocess_svc")
        assert info.port > 0 and info.pid == service.pid
        assert _serving(f"127.0.0.1:{info.port}")
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    finally:
        service.terminate()
        service.wait(timeout=30)
