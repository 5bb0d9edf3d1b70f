"""A job trained on two gloo ranks that the service launches with torchrun, all on loopback, with
authentication on: a rank killed mid-job ends in a resumed, successful job with the LoRA and losses
of an uninterrupted one-rank run, and events and cancel work as in-process. And two "nodes": two
torchrun invocations that something other than the service starts (as a TrainJob would), meeting by
c10d rendezvous and reporting over the control port's TLS, with the frozen base sharded over them
(FSDP2, --shard-base), give that LoRA too, and the previews one rank renders."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api.error_info import error_info
from shared.bundle import path_from_uri
from shared.demo_dataset import make_demo_dataset
from tests.certificates import Authority
from tests.e2e.conftest import PREVIEW_STEPS, Services, own_services
from tests.e2e.processes import free_port
from train_svc.distributed.attempts import TOKEN_ENV
from train_svc.distributed.settings import DistributedSettings
from train_svc.job_run.settings import RunSettings
from train_svc.training.checkpoint import latest_checkpoint

pytestmark = pytest.mark.integration

SUCCEEDED = pb.TrainingJob.State.STATE_SUCCEEDED
# Measured on this machine (python -m tests.benchmarks.data_parallel prints it): world sizes 1 and 2
# differ only in the order of a float sum, by at most ~1e-7 relative on the LoRA.
LORA_RTOL, LORA_ATOL = 1e-4, 1e-6
STEPS = 100  # the least a request may ask for
REQUEST = {
    "rank": 8,
    "number_of_steps": STEPS,
    "learning_rate": 2e-3,
    "number_of_frames": 9,
    "resolution": common_pb2.RESOLUTION_LOW,
    "aspect_ratio": common_pb2.ASPECT_RATIO_1_1,
    "batch_size": 2,
}


# A request with a small validation preview (rendered 5 times over the run).
PREVIEWED = {
    **REQUEST,
    "validation": [pb.ValidationPrompt(prompt="a striped ball")],
    "validation_number_of_frames": 9,
    "validation_resolution": common_pb2.RESOLUTION_LOW,
    "validation_aspect_ratio": common_pb2.ASPECT_RATIO_1_1,
}
PIXEL_TOLERANCE = 2  # of 255, per pixel of a preview's JPEG frames


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


@pytest.fixture(scope="module")
def one_rank(services, clips) -> tuple[pb.TrainingJob, list[pb.WatchTrainingJobResponse]]:
    job, events = services.run(training_data_url=str(clips), **PREVIEWED)
    assert job.state == SUCCEEDED, job.error
    return job, events


def _assert_same_training(one, other) -> None:
    (one_job, one_events), (job, events) = one, other
    assert job.state == SUCCEEDED, job.error
    assert [s.step for s in _steps(events)] == list(range(1, STEPS + 1))
    torch.testing.assert_close(
        torch.tensor([s.loss for s in _steps(events)]),
        torch.tensor([s.loss for s in _steps(one_events)]),
        rtol=LORA_RTOL,
        atol=LORA_ATOL,
    )
    a, b = _lora(one_job), _lora(job)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=LORA_RTOL, atol=LORA_ATOL)
    assert job.billable_units == STEPS


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


def test_a_killed_rank_resumes_and_the_job_trains_the_lora_one_rank_trains(one_rank, two_ranks, clips) -> None:
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
    resumed = [e.resumed for e in events if e.WhichOneof("event") == "resumed"]
    assert len(resumed) == 1 and resumed[0].from_step in (20, 40), resumed
    assert "attempt 2 of 4" in resumed[0].message
    # every step once (the repeats after the checkpoint are not recorded), as one rank trains them
    _assert_same_training(one_rank, (final, events))


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


def _watch_until_shutdown(stub, name: str, into: list) -> None:
    """Every event of the job until the service's shutdown ends the stream (UNAVAILABLE)."""
    try:
        for event in stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=600):
            into.append(event)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error


def test_a_shutdown_stops_the_ranks_with_a_checkpoint_of_their_last_step(workdir, principals, clips) -> None:
    storage = workdir / "shutdown"
    storage.mkdir()
    run = RunSettings(preview_steps=PREVIEW_STEPS, checkpoint_every=1000)
    with own_services(storage, principals, run=run, workers=DistributedSettings(world_size="2")) as stack:
        services = Services(stack)
        job = services.create(training_data_url=str(clips), **{**REQUEST, "number_of_steps": 2000})
        events: list = []
        watcher = threading.Thread(target=_watch_until_shutdown, args=(services.stub, job.name, events))
        watcher.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if services.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name)).progress.step >= 3:
                break
            time.sleep(0.2)
        stack.host.call(stack.training.stop(grace=60.0))  # what SIGTERM does
        watcher.join(60)
    job_id = job.name.removeprefix("trainingJobs/")
    kept = latest_checkpoint(storage / "jobs" / job_id / "checkpoints")
    last_step = _steps(events)[-1].step
    assert kept is not None and kept.step == last_step >= 3, "the ranks stopped at a step boundary and kept it"
    assert [e.checkpoint.step for e in events if e.WhichOneof("event") == "checkpoint"] == [last_step]
    assert not _worker_pids(job_id, rank=0) and not _worker_pids(job_id, rank=1)


def test_workers_that_never_come_fail_the_job_after_its_attempts(workdir, principals, clips) -> None:
    storage = workdir / "absent"
    storage.mkdir()
    workers = DistributedSettings(
        launch="external", world_size="2", control_port=free_port(), connect_seconds=1, max_attempts=2
    )
    with own_services(storage, principals, workers=workers) as stack:
        job, events = Services(stack).run(training_data_url=str(clips), **REQUEST)
    assert job.state == pb.TrainingJob.State.STATE_FAILED
    assert job.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
    info = error_info(job.error)
    assert info is not None and info.reason == "WORKER_FAILED"
    assert "failed 2 times; the last attempt: rank 0 did not connect within 1 s" in job.error.message
    resumed = [e.resumed for e in events if e.WhichOneof("event") == "resumed"]
    assert len(resumed) == 1 and "attempt 2 of 2" in resumed[0].message


def _node(rendezvous_port: int, job_dir: Path, control: str, ca: Path, log: Path, nodes: int = 2) -> subprocess.Popen:
    """One "node" of `nodes`: torchrun with one rank, as a TrainJob's pod would run it (no token given)."""
    command = [
        *(sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}", "--nproc-per-node=1"),
        *("--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{rendezvous_port}", "--rdzv-id=two-nodes"),
        *("--local-addr=127.0.0.1", "--max-restarts=0"),
        *("-m", "train_svc.worker", f"--job-dir={job_dir}", f"--control={control}", f"--control-ca={ca}"),
    ]
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env.update(MASTER_ADDR="127.0.0.1", GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    with open(log, "wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_two_nodes_started_elsewhere_on_a_sharded_base_train_the_lora_one_rank_trains(
    one_rank, workdir, principals, clips
) -> None:
    storage = workdir / "external"
    storage.mkdir()
    authority = Authority(workdir / "control-ca")
    pem = authority.issue("control", cn="train-workers", server=True)
    control_port = free_port()
    workers = DistributedSettings(
        launch="external",
        world_size="2",
        control_port=control_port,
        control_tls_cert=pem.cert,
        control_tls_key=pem.key,
        connect_seconds=120,
        shard_base=True,
    )
    run = RunSettings(preview_steps=PREVIEW_STEPS, checkpoint_every=20)
    with own_services(storage, principals, run=run, workers=workers) as stack:
        services = Services(stack)
        job = services.create(training_data_url=str(clips), **PREVIEWED)
        job_dir = storage / "jobs" / job.name.removeprefix("trainingJobs/")
        token = job_dir / "run" / "token"
        deadline = time.monotonic() + 300
        while not token.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert token.stat().st_mode & 0o777 == 0o600
        control = f"127.0.0.1:{control_port}"
        # beside the two nodes, one more torchrun of one rank that takes itself for the whole job
        alone = _node(free_port(), job_dir, control, authority.cert, workdir / "alone.log", nodes=1)
        port = free_port()
        nodes = [_node(port, job_dir, control, authority.cert, workdir / f"node{n}.log") for n in (0, 1)]
        try:
            assert alone.wait(120) != 0, "one rank for a job of two is refused"
            assert "the job trains on 2 ranks; these workers are 1" in (workdir / "alone.log").read_text()
            events = services.events(job.name)
            final = services.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
            assert [node.wait(60) for node in nodes] == [0, 0]
        finally:
            for node in (alone, *nodes):
                node.kill()
        _assert_same_training(one_rank, (final, events))
        assert not token.exists(), "the token leaves with its attempt"
        _assert_same_previews(one_rank[1], events)


def _previews(events) -> dict[tuple[int, int], list[np.ndarray]]:
    return {
        (e.preview.step, e.preview.prompt_index): [
            np.asarray(Image.open(io.BytesIO(jpeg)), dtype=np.int16) for jpeg in e.preview.jpeg_frames
        ]
        for e in events
        if e.WhichOneof("event") == "preview"
    }


def _assert_same_previews(one_events, events) -> None:
    one, other = _previews(one_events), _previews(events)
    assert len(one) == 5 and one.keys() == other.keys()
    for key, frames in one.items():
        assert len(other[key]) == len(frames)
        for a, b in zip(frames, other[key], strict=True):
            assert a.shape == b.shape and np.abs(a - b).max() <= PIXEL_TOLERANCE, key
