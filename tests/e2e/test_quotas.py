"""Per-principal quotas: how many of a principal's jobs wait and run, and how much it may store.

Two accelerator slots, so that a second principal's job can start while the first principal waits on
its own running quota.
"""

from __future__ import annotations

import time

import grpc
import pytest
from google.rpc import error_details_pb2

from shared.api import common_pb2
from shared.api import generation_pb2 as gen_pb
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset, make_short_clips_zip
from shared.grpc_util.errors import rpc_error_status
from tests.e2e.conftest import own_services
from train_svc.jobs.quotas import Quotas

pytestmark = pytest.mark.integration

LONG = {
    "rank": 8,
    "number_of_steps": 5000,
    "number_of_frames": 9,
    "resolution": common_pb2.RESOLUTION_LOW,
    "aspect_ratio": common_pb2.ASPECT_RATIO_16_9,
}


def _quota_failure(err: grpc.RpcError) -> tuple[str, error_details_pb2.QuotaFailure]:
    status = rpc_error_status(err)
    reason, failure = "", None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
    return reason, failure


def _state(stub, name: str) -> int:
    return stub.GetTrainingJob(pb.GetTrainingJobRequest(name=name)).state


def _until(condition, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_principal_waits_on_its_own_running_quota_while_others_pass_and_its_queue_is_bounded(tmp_path, principals):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    request = pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=str(archive), **LONG))
    quotas = Quotas(running_jobs=1, queued_jobs=1)
    with own_services(tmp_path / "storage", principals, concurrent_jobs=2, quotas=quotas) as services:
        alice, bob = services.stub("alice"), services.stub("bob")
        first = alice.CreateTrainingJob(request)
        _until(lambda: _state(alice, first.name) == pb.TrainingJob.State.STATE_TRAINING)
        second = alice.CreateTrainingJob(request)  # waits: alice already runs her one job
        with pytest.raises(grpc.RpcError) as caught:
            alice.CreateTrainingJob(request)  # a second waiting job of alice's is over her queued quota
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        reason, failure = _quota_failure(caught.value)
        assert reason == "QUOTA_EXCEEDED"
        assert [v.subject for v in failure.violations] == ["principal:alice"]
        assert "queued" in failure.violations[0].description

        bobs = bob.CreateTrainingJob(request)  # bob is under his quotas: his job takes the free slot
        _until(lambda: _state(bob, bobs.name) == pb.TrainingJob.State.STATE_TRAINING)
        assert _state(alice, second.name) == pb.TrainingJob.State.STATE_QUEUED

        alice.CancelTrainingJob(pb.CancelTrainingJobRequest(name=first.name))
        _until(lambda: _state(alice, second.name) != pb.TrainingJob.State.STATE_QUEUED)  # her next one starts
        for stub, name in ((alice, second.name), (bob, bobs.name)):
            stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=name))


def test_a_principal_over_its_storage_quota_gets_no_new_work_and_others_still_do(tmp_path, principals):
    short = make_short_clips_zip(tmp_path / "short.zip", frames=4, count=2)  # fails, but keeps its report
    failing = pb.CreateTrainingJobRequest(
        input=pb.TrainingInput(training_data_url=str(short), number_of_frames=9, number_of_steps=100)
    )
    with own_services(tmp_path / "storage", principals, quotas=Quotas(storage_bytes=1)) as services:
        alice, bob = services.stub("alice"), services.stub("bob")
        first = pb.CreateTrainingJobRequest(input=failing.input, request_id="first")
        job = alice.CreateTrainingJob(first)  # nothing stored yet: admitted
        _until(lambda: _state(alice, job.name) == pb.TrainingJob.State.STATE_FAILED)
        assert alice.CreateTrainingJob(first).name == job.name  # a repeat is no new work: it still answers
        with pytest.raises(grpc.RpcError) as caught:
            alice.CreateTrainingJob(failing)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        reason, failure = _quota_failure(caught.value)
        assert reason == "QUOTA_EXCEEDED" and "storage" in failure.violations[0].description
        with pytest.raises(grpc.RpcError) as refused:
            list(alice.GenerateVideo(gen_pb.GenerateVideoRequest(prompt="x", steps=2, number_of_frames=9)))
        assert _quota_failure(refused.value)[0] == "QUOTA_EXCEEDED"
        other = bob.CreateTrainingJob(failing)  # bob stores nothing yet
        _until(lambda: _state(bob, other.name) == pb.TrainingJob.State.STATE_FAILED)
