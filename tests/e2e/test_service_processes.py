"""Each service as its own process (python -m ...): health, reflection, and a clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.e2e.processes import ServiceProcess, train_service

pytestmark = pytest.mark.integration


def _health(port: int, service: str) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def _listed_services(port: int) -> set[str]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        return {s.name for s in next(responses).list_services_response.service}


def test_services_run_as_processes_with_health_reflection_a_single_owner_and_clean_sigterm(tmp_path: Path):
    serving = health_pb2.HealthCheckResponse.SERVING
    pre = ServiceProcess("preprocess_svc", ["--storage", str(tmp_path)], tmp_path / "preprocess.log")
    train = train_service(tmp_path, "127.0.0.1:1", tmp_path / "train.log")
    try:
        pre_port = pre.start()
        assert _health(pre_port, "ltx.trainer.v1.PreprocessService") == serving
        assert "ltx.trainer.v1.PreprocessService" in _listed_services(pre_port)
        train.args[train.args.index("127.0.0.1:1")] = pre.target
        train_port = train.start()
        assert _health(train_port, "ltx.trainer.v1.TrainingService") == serving
        assert {"ltx.trainer.v1.TrainingService", "grpc.health.v1.Health"} <= _listed_services(train_port)
        second = subprocess.run(
            [sys.executable, "-m", "train_svc", *train.args, "--port", "0"], capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 2, "a second service on the same storage is refused at start"
        assert "is in use by another training service" in second.stderr
        assert "one service per storage root" in second.stderr
        assert _health(train_port, "ltx.trainer.v1.TrainingService") == serving
        train.proc.send_signal(signal.SIGTERM)
        assert train.proc.wait(timeout=30) == 0
        pre.proc.send_signal(signal.SIGTERM)
        assert pre.proc.wait(timeout=30) == 0
    finally:
        train.stop()
        pre.stop()


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


def test_a_service_refuses_to_listen_beyond_loopback_without_authentication(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "preprocess_svc", "--storage", str(tmp_path), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("LTX_")},
    )
    assert done.returncode == 2
    assert "without authentication" in done.stderr and "--insecure" in done.stderr
