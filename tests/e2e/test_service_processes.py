"""Each service as its own process (python -m ...): health, reflection, and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from train_svc.models.tiny_preset import PRESET_NAME


@contextmanager
def service_process(args: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen, int]]:
    """Start `python -m <args>` with --port 0 and return it with the port it bound (read from its log)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", *args, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        port = None
        deadline = time.monotonic() + 120
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                raise AssertionError(f"{args[0]} exited early with {proc.wait()}")
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") == "grpc_server_started":
                port = record["port"]
        assert port, f"{args[0]} did not report its port"
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _health(port: int, service: str) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def _listed_services(port: int) -> set[str]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        return {s.name for s in next(responses).list_services_response.service}


def test_services_run_as_processes_with_health_reflection_and_clean_sigterm(tmp_path: Path):
    serving = health_pb2.HealthCheckResponse.SERVING
    with service_process(["preprocess_svc", "--storage", str(tmp_path)]) as (pre, pre_port):
        assert _health(pre_port, "ltx.trainer.v1.PreprocessService") == serving
        assert "ltx.trainer.v1.PreprocessService" in _listed_services(pre_port)
        train_args = ["train_svc", "--storage", str(tmp_path), "--preprocess-target", f"127.0.0.1:{pre_port}"]
        with service_process([*train_args, "--base-model", PRESET_NAME]) as (train, train_port):
            assert _health(train_port, "ltx.trainer.v1.TrainingService") == serving
            assert {"ltx.trainer.v1.TrainingService", "grpc.health.v1.Health"} <= _listed_services(train_port)
            train.send_signal(signal.SIGTERM)
            assert train.wait(timeout=30) == 0
        pre.send_signal(signal.SIGTERM)
        assert pre.wait(timeout=30) == 0


def test_train_service_refuses_to_start_without_its_base_model(tmp_path: Path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    args = ["train_svc", "--storage", str(tmp_path), "--preprocess-target", "127.0.0.1:1", "--port", "0"]
    done = subprocess.run(
        [sys.executable, "-m", *args, "--base-model", str(tmp_path / "no-such-model")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "ltx2.3-tiny" in done.stderr
