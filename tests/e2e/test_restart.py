"""train_svc as a real process, killed (SIGKILL) or stopped (SIGTERM) in the middle of a job, then started
again on the same storage and port: the job resumes from its checkpoint and ends as if never interrupted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import torch
from safetensors.torch import load_file

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.bundle import path_from_uri
from shared.demo_dataset import make_demo_dataset
from tests.e2e.processes import ServiceProcess, all_events, get_job, train_service, wait_for_step

pytestmark = pytest.mark.integration

STEPS = 100
REQUEST = {
    "rank": 8,
    "number_of_steps": STEPS,
    "learning_rate": 1e-3,
    "number_of_frames": 17,
    "resolution": "low",
    "aspect_ratio": "1:1",
}


@pytest.fixture(scope="module")
def preprocess(tmp_path_factory) -> Iterator[tuple[ServiceProcess, Path]]:
    root = tmp_path_factory.mktemp("restart")
    storage = root / "storage"
    allowed = tmp_path_factory.getbasetemp()
    args = ["--storage", str(storage), "--allow-local-root", str(allowed)]
    service = ServiceProcess("preprocess_svc", args, root / "preprocess.log")
    service.start()
    yield service, storage
    service.stop()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return make_demo_dataset(tmp_path_factory.mktemp("clips") / "clips.zip", clips=2, seconds=1.0, size=(128, 128))


def _kinds(events: list[pb.WatchTrainingJobResponse], kind: str) -> list:
    return [getattr(e, kind) for e in events if e.WhichOneof("event") == kind]


def _assert_one_continuous_account(events: list[pb.WatchTrainingJobResponse]) -> None:
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert [s.step for s in _kinds(events, "step")] == list(range(1, STEPS + 1))
    states = [pb.TrainingJob.State.Name(c.state) for c in _kinds(events, "state_change")]
    assert states == ["STATE_QUEUED", "STATE_PREPROCESSING", "STATE_TRAINING", "STATE_EXPORTING", "STATE_SUCCEEDED"]


def _lora(job: pb.TrainingJob) -> dict[str, torch.Tensor]:
    return load_file(path_from_uri(job.result.lora_file.uri))


def _run_uninterrupted(target: str, archive: Path) -> pb.TrainingJob:
    from shared.request.json_input import input_from_json

    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        training_input = input_from_json({**REQUEST, "training_data_url": str(archive)})
        job = stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=training_input), timeout=30)
    all_events(target, job.name)
    return get_job(target, job.name)


def _assert_same_lora(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    worst = max((got[k] - want[k]).abs().max().item() for k in want)
    assert worst <= 1e-6, worst


def _first_job(target: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        while time.monotonic() < deadline:
            jobs = stub.ListTrainingJobs(pb.ListTrainingJobsRequest(), timeout=10).training_jobs
            if jobs:
                return jobs[-1].name
            time.sleep(0.2)
    raise AssertionError("the CLI created no job")


def test_a_job_killed_mid_run_resumes_to_the_same_lora_and_the_waiting_cli_writes_its_outputs(
    preprocess, archive, tmp_path
):
    pre, storage = preprocess
    allowed = storage.parent.parent  # pytest's temporary folders, the archive's among them
    train = train_service(storage, pre.target, tmp_path / "train.log", "--checkpoint-every", "10", allow_root=allowed)
    train.start()
    try:
        request = tmp_path / "request.json"
        request.write_text(json.dumps({**REQUEST, "training_data_url": str(archive)}))
        out = tmp_path / "out"
        command = ["train", str(request), "--target", train.target, "--out", str(out)]
        with open(tmp_path / "cli.log", "w") as cli_log:
            cli = subprocess.Popen([sys.executable, "-m", "train_svc.cli", *command], stdout=cli_log, stderr=cli_log)
        name = _first_job(train.target)
        seen = wait_for_step(train.target, name, 37)
        train.kill()
        time.sleep(1.0)  # the CLI notices the service has gone
        train.start()
        assert cli.wait(timeout=900) == 0, (tmp_path / "cli.log").read_text()

        events = all_events(train.target, name)
        _assert_one_continuous_account(events)
        assert [e.SerializeToString() for e in events[: len(seen)]] == [e.SerializeToString() for e in seen]
        [resumed] = _kinds(events, "resumed")
        assert resumed.from_step % 10 == 0 and 30 <= resumed.from_step <= resumed.last_step
        assert resumed.last_step >= 37
        job = get_job(train.target, name)
        assert job.state == pb.TrainingJob.State.STATE_SUCCEEDED

        reference = _run_uninterrupted(train.target, archive)
        assert reference.state == pb.TrainingJob.State.STATE_SUCCEEDED
        _assert_same_lora(_lora(job), _lora(reference))
        _assert_same_lora(load_file(out / "lora.safetensors"), _lora(reference))
    finally:
        train.stop()


def test_sigterm_mid_run_stops_within_the_grace_period_with_a_checkpoint_and_the_next_start_resumes(
    preprocess, archive, tmp_path
):
    pre, storage = preprocess
    grace = 20.0
    extra = ("--checkpoint-every", "1000", "--grace-seconds", str(grace))
    train = train_service(storage, pre.target, tmp_path / "train.log", *extra, allow_root=storage.parent.parent)
    train.start()
    try:
        from shared.request.json_input import input_from_json

        with grpc.insecure_channel(train.target) as channel:
            stub = pb_grpc.TrainingServiceStub(channel)
            training_input = input_from_json({**REQUEST, "training_data_url": str(archive), "learning_rate": 5e-4})
            name = stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=training_input), timeout=30).name
        seen = wait_for_step(train.target, name, 20)
        asked = time.monotonic()
        train.proc.terminate()
        assert train.proc.wait(timeout=grace + 10) == 0
        took = time.monotonic() - asked
        assert took < grace, took

        checkpoints = sorted((storage / "jobs" / name.split("/")[1] / "checkpoints").glob("step-*.pt"))
        assert checkpoints, "no checkpoint was written on the way down"
        stopped_at = int(checkpoints[-1].stem.removeprefix("step-"))
        assert stopped_at >= seen[-1].step.step

        train.start()
        events = all_events(train.target, name)
        _assert_one_continuous_account(events)
        [resumed] = _kinds(events, "resumed")
        assert resumed.from_step == resumed.last_step == stopped_at  # nothing to train twice
        assert _kinds(events, "checkpoint")[0].step == stopped_at
        assert get_job(train.target, name).state == pb.TrainingJob.State.STATE_SUCCEEDED
    finally:
        train.stop()
