"""A job trained on two gloo ranks that the service launches with torchrun, all on loopback, with
authentication on: the same request gives the same LoRA and losses as on one rank, events and cancel
work as in-process, and a rank killed mid-job ends in a resumed, successful job."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri
from shared.demo_dataset import make_demo_dataset
from tests.e2e.conftest import PREVIEW_STEPS, Services, own_services
from train_svc.distributed.settings import DistributedSettings
from train_svc.job_run.settings import RunSettings

pytestmark = pytest.mark.integration

SUCCEEDED = pb.TrainingJob.State.STATE_SUCCEEDED
# Measured on this machine (tests/benchmarks/bench_data_parallel.py prints it): world sizes 1 and 2
# differ only in the order of a float sum, by at most ~1e-7 relative on the LoRA.
LORA_RTOL, LORA_ATOL = 1e-4, 1e-6
REQUEST = {
    "rank": 8,
    "number_of_steps": 100,
    "learning_rate": 2e-3,
    "number_of_frames": 9,
    "resolution": common_pb2.RESOLUTION_LOW,
    "aspect_ratio": common_pb2.ASPECT_RATIO_1_1,
    "batch_size": 2,
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("distributed")


@pytest.fixture(scope="module")
def two_ranks(workdir, principals) -> Iterator[Services]:
    storage = workdir / "storage"
    storage.mkdir()
    run = RunSettings(preview_steps=PREVIEW_STEPS, checkpoint_every=20)
    with own_services(storage, principals, run=run, workers=DistributedSettings(world_size="2")) as stack:
        yield Services(stack)


@pytest.fixture(scope="module")
def clips(workdir) -> Path:
    return make_demo_dataset(workdir / "clips.zip", clips=3, seconds=1.0, size=(128, 128))


def _lora(job: pb.TrainingJob) -> dict[str, torch.Tensor]:
    return load_file(path_from_uri(job.result.lora_file.uri))


def _steps(events) -> list[pb.StepCompleted]:
    return [e.step for e in events if e.WhichOneof("event") == "step"]


def test_two_ranks_train_the_lora_one_rank_trains(services, two_ranks, clips) -> None:
    one, one_events = services.run(training_data_url=str(clips), **REQUEST)
    two, two_events = two_ranks.run(training_data_url=str(clips), **REQUEST)
    assert one.state == SUCCEEDED, one.error
    assert two.state == SUCCEEDED, two.error
    assert [s.step for s in _steps(two_events)] == list(range(1, 101))
    torch.testing.assert_close(
        torch.tensor([s.loss for s in _steps(two_events)]),
        torch.tensor([s.loss for s in _steps(one_events)]),
        rtol=LORA_RTOL,
        atol=LORA_ATOL,
    )
    a, b = _lora(one), _lora(two)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=LORA_RTOL, atol=LORA_ATOL)
    assert two.billable_units == 100


def test_a_request_without_batch_size_gets_the_world_size(two_ranks, clips) -> None:
    fields = {k: v for k, v in REQUEST.items() if k != "batch_size"}
    job = two_ranks.create(training_data_url=str(clips), **fields)
    assert job.input.batch_size == 2
    two_ranks.stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=job.name))
    two_ranks.events(job.name)


def _worker_pids(job_id: str, rank: int) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = b"train_svc.worker" in cmdline and any(job_id.encode() in arg for arg in cmdline)
        if ours and f"RANK={rank}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def test_a_killed_rank_resumes_from_the_checkpoint_and_the_job_succeeds(two_ranks, clips) -> None:
    job = two_ranks.create(training_data_url=str(clips), **REQUEST)
    job_id = job.name.removeprefix("trainingJobs/")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        current = two_ranks.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
        if current.progress.step >= 30:
            break
        time.sleep(0.2)
    pids = _worker_pids(job_id, rank=1)
    assert pids, "rank 1 of the job is not running"
    os.kill(pids[0], signal.SIGKILL)
    events = two_ranks.events(job.name)
    final = two_ranks.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
    assert final.state == SUCCEEDED, final.error
    resumed = [e.resumed for e in events if e.WhichOneof("event") == "resumed"]
    assert len(resumed) == 1 and resumed[0].from_step in (20, 40), resumed
    assert "attempt 2 of 4" in resumed[0].message
    assert [s.step for s in _steps(events)] == list(range(1, 101))  # repeats after the checkpoint dropped


def test_cancel_stops_the_ranks_at_a_step_boundary(two_ranks, clips) -> None:
    job = two_ranks.create(training_data_url=str(clips), **{**REQUEST, "number_of_steps": 2000})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if two_ranks.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name)).progress.step >= 3:
            break
        time.sleep(0.2)
    two_ranks.stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=job.name))
    events = two_ranks.events(job.name)
    final = two_ranks.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
    assert final.state == pb.TrainingJob.State.STATE_CANCELLED
    last = events[-1].state_change
    assert f"cancelled by request at step {final.progress.step}" in last.message, last.message
    assert f"its checkpoint at step {final.progress.step} is kept" in last.message
    assert not _worker_pids(job.name.removeprefix("trainingJobs/"), rank=0)
