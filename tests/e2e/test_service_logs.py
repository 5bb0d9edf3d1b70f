"""The services' stderr as real processes: JSON lines only, at LTX_LOG_LEVEL given in any case.

The preprocess service runs through a small wrapper that, right after the service's own configure_logging,
emits a record on grpc's standard-library logger and a warnings.warn, as a library would (a real process
cannot be made to do that deterministically otherwise); everything else is the service's own start and stop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared.ready_file import wait_for_ready_file
from tests.e2e.processes import free_port
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration

_SPEAKING_LIBRARY = """
import logging, runpy, sys, warnings
import shared.logs

configure = shared.logs.configure_logging

def configure_then_speak(**kwargs):
    configure(**kwargs)
    logging.getLogger("grpc._server").warning("a record of grpc's logger: %s", "stdlib")
    warnings.warn("a library's warning", UserWarning, stacklevel=1)

shared.logs.configure_logging = configure_then_speak
sys.argv = ["preprocess_svc", *sys.argv[1:]]
runpy.run_module("preprocess_svc", run_name="__main__", alter_sys=True)
"""


def _start(argv: list[str], tmp_path: Path, name: str, level: str) -> tuple[subprocess.Popen, Path]:
    ready, log = tmp_path / f"{name}.ready.json", tmp_path / f"{name}.log"
    env = {**os.environ, "LTX_LOG_LEVEL": level}
    with open(log, "w") as stderr:
        proc = subprocess.Popen([*argv, "--ready-file", str(ready)], stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    wait_for_ready_file(ready, proc, 180, name)
    return proc, log


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def _json_lines(log: Path) -> list[dict]:
    lines = log.read_text().splitlines()
    assert lines, f"{log} is empty"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line in {log.name}: {line!r}") from None
    return parsed


def test_services_started_with_lowercase_info_log_only_json_lines(tmp_path: Path):
    storage = tmp_path / "storage"
    pre, pre_log = _start(
        [sys.executable, "-c", _SPEAKING_LIBRARY, "--storage", str(storage), "--port", "0"], tmp_path, "pre", "info"
    )
    train = None
    try:
        target = f"127.0.0.1:{json.loads((tmp_path / 'pre.ready.json').read_text())['port']}"
        train, train_log = _start(
            [sys.executable, "-m", "train_svc", "--storage", str(storage), "--preprocess-target", target]
            + ["--base-model", PRESET_NAME, "--port", str(free_port())],
            tmp_path,
            "train",
            "Info",
        )
        assert _stop(train) == 0
    finally:
        if train is not None and train.poll() is None:
            train.kill()
        assert _stop(pre) == 0
    pre_lines = _json_lines(pre_log)
    by_logger = {(line["logger"], line["level"]): line for line in pre_lines}
    assert by_logger["grpc._server", "warning"]["event"] == "a record of grpc's logger: stdlib"
    assert "UserWarning: a library's warning" in by_logger["py.warnings", "warning"]["event"]
    assert any(line["event"] == "grpc_server_started" and line["level"] == "info" for line in pre_lines)
    train_lines = _json_lines(train_log)
    assert any(line["event"] == "grpc_server_started" and line["level"] == "info" for line in train_lines)
    assert all({"event", "level", "logger", "timestamp"} <= line.keys() for line in pre_lines + train_lines)


@pytest.mark.parametrize("module", ["preprocess_svc", "train_svc.cli"])
def test_an_unknown_log_level_stops_with_exit_code_2_and_says_why(tmp_path: Path, module: str):
    args = ["--storage", str(tmp_path)] if module == "preprocess_svc" else ["estimate", str(tmp_path / "r.json")]
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, "LTX_LOG_LEVEL": "loud"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "LTX_LOG_LEVEL: unknown log level 'loud': use one of debug, info, warning, error, critical (any case)\n"
    )


def test_the_cli_takes_a_lowercase_level(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "train_svc.cli", "estimate", str(tmp_path / "missing.json")],
        env={**os.environ, "LTX_LOG_LEVEL": "debug"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "missing.json" in done.stderr and "Traceback" not in done.stderr


def test_a_cli_run_logs_only_json_in_the_services_and_writes_no_control_sequences(tmp_path: Path):
    """`ltx-trainer train` with its services as children, LTX_LOG_LEVEL=debug: every line of both services'
    logs (their spawned preprocessing workers' included) is JSON, and the CLI's stderr (no terminal) is
    plain lines."""
    from shared.demo_dataset import make_demo_dataset

    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "training_data_url": str(archive),
                "rank": 8,
                "number_of_steps": 100,
                "number_of_frames": 9,
                "resolution": "low",
                "aspect_ratio": "16:9",
            }
        )
    )
    storage = tmp_path / "storage"
    done = subprocess.run(
        [sys.executable, "-m", "train_svc.cli", "train", str(request), "--out", str(tmp_path / "out")]
        + ["--storage", str(storage), "--base-model", PRESET_NAME],
        env={**os.environ, "LTX_LOG_LEVEL": "debug"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "step 100/100" in done.stderr and "[SUCCEEDED]" in done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    preprocess_lines = _json_lines(storage / "logs" / "preprocess_svc.log")
    train_lines = _json_lines(storage / "logs" / "train_svc.log")
    assert any(line["level"] == "debug" for line in preprocess_lines + train_lines)
    assert any(line["event"] == "audio_prepared" for line in preprocess_lines)  # logged by a worker process
