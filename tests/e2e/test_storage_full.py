"""A storage volume too full for the next large write: the job fails STORAGE_FULL, leaves no partial file
and no half-written checkpoint, and the service goes on serving everyone.

"Full" is the services' --min-free-bytes guard set above what the disk has free, so no disk is filled:
on the preprocessor it stops the fetch; on the training service alone it stops the first large write of
the training side: encoding (latent cache entries), or, with the latents already cached, the first
checkpoint.
"""

from __future__ import annotations

import shutil
import time

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset
from shared.disk_space import SpaceGuard
from tests.e2e.conftest import own_services
from tests.hostile.corpus import Outcome
from tests.service_stack import service_stack
from train_svc.job_run.settings import RunSettings

pytestmark = pytest.mark.integration

JOB = {
    "rank": 8,
    "number_of_steps": 100,
    "number_of_frames": 9,
    "resolution": common_pb2.RESOLUTION_LOW,
    "aspect_ratio": common_pb2.ASPECT_RATIO_16_9,
}
FINAL = (pb.TrainingJob.State.STATE_SUCCEEDED, pb.TrainingJob.State.STATE_FAILED, pb.TrainingJob.State.STATE_CANCELLED)


def _beyond_free(path) -> int:
    return shutil.disk_usage(path).free + (1 << 40)


def _run(stack, archive, principal: str = "alice", **fields) -> pb.TrainingJob:
    stub = stack.stub(principal)
    job = stub.CreateTrainingJob(
        pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=str(archive), **{**JOB, **fields}))
    )
    deadline = time.monotonic() + 300
    while (job := stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))).state not in FINAL:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return job


def _storage_full(job: pb.TrainingJob) -> bool:
    outcome = Outcome.of_status(job.error)
    return job.state == pb.TrainingJob.State.STATE_FAILED and (outcome.code, outcome.reason) == (
        "RESOURCE_EXHAUSTED",
        "STORAGE_FULL",
    )


def _files(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_full_volume_stops_the_fetch_and_the_service_serves_on(tmp_path, principals):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    storage = tmp_path / "storage"
    with service_stack(
        storage,
        principals,
        allow_local_roots=(tmp_path,),
        preprocess_settings={"space": SpaceGuard(min_free_bytes=_beyond_free(tmp_path))},
    ) as stack:
        job = _run(stack, archive)
        assert _storage_full(job), job.error
        assert job.billable_units == 0
        assert _files(storage / "datasets") == []  # no archive, no partial download
        with stack.channel("bob") as channel:  # the service is well and serves others
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert stack.stub("bob").ListTrainingJobs(pb.ListTrainingJobsRequest()).training_jobs == []


def test_a_full_volume_stops_the_encoding_without_a_partial_cache_entry(tmp_path, principals):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    storage = tmp_path / "storage"
    with own_services(storage, principals, space=SpaceGuard(min_free_bytes=_beyond_free(tmp_path))) as services:
        job = _run(services, archive)
        assert _storage_full(job), job.error
        assert [e for e in _files(storage / "cache" / "latents")] == []
        assert not job.progress.step


def test_a_full_volume_stops_the_first_checkpoint_and_leaves_none_half_written(tmp_path, principals):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    storage = tmp_path / "storage"
    with own_services(storage, principals) as services:  # room enough: the latents get cached
        assert _run(services, archive).state == pb.TrainingJob.State.STATE_SUCCEEDED
    with own_services(
        storage,
        principals,
        space=SpaceGuard(min_free_bytes=_beyond_free(tmp_path)),
        run=RunSettings(checkpoint_every=10),
    ) as services:
        job = _run(services, archive, learning_rate=1e-3)
        assert _storage_full(job), job.error
        assert job.progress.step == 10  # it trained up to its first checkpoint (all latents from the cache)
        job_folder = storage / "jobs" / job.name.removeprefix("trainingJobs/")
        assert _files(job_folder / "checkpoints") == []
        again = _run(services, archive, principal="bob", number_of_steps=100)
        assert _storage_full(again)  # bob's encoding needs room too: the guard holds for everyone
        assert services.stub("alice").GetTrainingJob(pb.GetTrainingJobRequest(name=job.name)).name == job.name
