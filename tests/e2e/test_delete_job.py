"""DeleteTrainingJob and retention over gRPC, on two replicas sharing one PostgreSQL store: a finished
job's outputs expire (the record stays, downloads say ARTIFACT_EXPIRED), then the job is deleted with
every file of it and a TYPE_DELETED in a collection watch on the other replica; a running job is deleted
only with force, stops wherever it runs, and leaves nothing; another principal gets NOT_FOUND."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset
from shared.grpc_util.errors import error_details
from tests.service_stack import Stack, service_stack
from train_svc.cli.delete_cmd import add_delete_parser, run_delete
from train_svc.cli.exit_codes import ExitCode
from train_svc.jobs.store import StoreSettings
from train_svc.retention.settings import RetentionSettings
from train_svc.retention.sweep import RetentionSweep

pytestmark = pytest.mark.integration

Type = pb.WatchTrainingJobsResponse.Type
State = pb.TrainingJob.State


@pytest.fixture(scope="module")
def stack(tmp_path_factory, principals, postgres_server) -> Iterator[Stack]:
    storage = tmp_path_factory.mktemp("storage")
    store = StoreSettings(url=postgres_server.database(), lease_seconds=2.0)
    allowed = (tmp_path_factory.getbasetemp(),)
    settings = {"replicas": 2, "store": store, "heartbeat_seconds": 0.3}
    with service_stack(storage, principals, allow_local_roots=allowed, **settings) as running:
        yield running


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return make_demo_dataset(tmp_path_factory.mktemp("data") / "clips.zip", clips=2, seconds=1.0, size=(112, 112))


def _create(stack: Stack, archive: Path, steps: int) -> str:
    training_input = pb.TrainingInput(
        training_data_url=str(archive),
        rank=8,
        number_of_steps=steps,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
    )
    return stack.stub().CreateTrainingJob(pb.CreateTrainingJobRequest(input=training_input)).name


def _refused(call, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == code, caught.value.details()
    return error_details(caught.value)[1].reason


def _delete(stack: Stack, name: str, replica: int = 1, principal: str = "alice", force: bool = False):
    return stack.stub(principal, replica).DeleteTrainingJob(pb.DeleteTrainingJobRequest(name=name, force=force))


def _cli_delete(stack: Stack, name: str, principal: str, monkeypatch) -> int:
    """`ltx-trainer delete NAME --target` as `principal`, on replica 0: its exit code."""
    monkeypatch.setenv("LTX_TOKEN", stack.principals.tokens[principal])
    parser = argparse.ArgumentParser()
    add_delete_parser(parser.add_subparsers(dest="command"))
    return run_delete(parser.parse_args(["delete", name, "--target", stack.target(0)]))


def _folders(stack: Stack, name: str) -> list[Path]:
    job_id = name.removeprefix("trainingJobs/")
    return [stack.storage / "jobs" / job_id, stack.storage / "datasets" / job_id]


def test_a_finished_job_expires_keeping_its_record_then_is_deleted_with_every_file(stack, archive, monkeypatch):
    name = _create(stack, archive, 100)
    list(stack.stub().WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=300))
    get = pb.GetTrainingJobRequest(name=name)
    assert stack.stub().GetTrainingJob(get).state == State.STATE_SUCCEEDED
    assert all(folder.is_dir() for folder in _folders(stack, name))

    settings = RetentionSettings(retain_days=1, retain_outputs_days=2)
    RetentionSweep(stack.training.store, stack.storage, settings).run(datetime.now(UTC) + timedelta(days=3))
    expired = stack.stub(replica=1).GetTrainingJob(get)
    assert expired.state == State.STATE_SUCCEEDED and expired.HasField("outputs_remove_time")
    assert expired.HasField("working_files_remove_time") and not expired.result.HasField("lora_file")
    download = pb.DownloadArtifactRequest(name=name, artifact="lora_file")
    assert _refused(lambda: list(stack.stub().DownloadArtifact(download)), grpc.StatusCode.NOT_FOUND) == (
        "ARTIFACT_EXPIRED"
    )
    events = list(stack.stub().WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=60))
    removed = [event.files_removed.part for event in events if event.HasField("files_removed")]
    assert removed == [pb.FilesRemoved.Part.PART_WORKING_FILES, pb.FilesRemoved.Part.PART_OUTPUTS]

    assert _refused(lambda: _delete(stack, name, principal="bob"), grpc.StatusCode.NOT_FOUND) == "JOB_NOT_FOUND"
    assert _cli_delete(stack, name, "bob", monkeypatch) == ExitCode.REFUSED
    assert stack.stub().GetTrainingJob(get).name == name  # bob's attempts changed nothing

    seen: list[pb.WatchTrainingJobsResponse] = []
    stream = stack.stub(replica=1).WatchTrainingJobs(pb.WatchTrainingJobsRequest(), timeout=60)

    def read() -> None:
        for message in stream:
            seen.append(message)
            if message.type == Type.TYPE_DELETED:
                return

    reader = threading.Thread(target=read)
    reader.start()
    while not any(message.type == Type.TYPE_SYNCED for message in seen):
        time.sleep(0.05)
    assert _cli_delete(stack, name, "alice", monkeypatch) == ExitCode.OK  # on replica 0
    reader.join(30)
    stream.cancel()
    assert (seen[-1].type, seen[-1].training_job) == (Type.TYPE_DELETED, pb.TrainingJob(name=name))
    for replica in (0, 1):
        assert _refused(lambda r=replica: stack.stub(replica=r).GetTrainingJob(get), grpc.StatusCode.NOT_FOUND)
    assert _refused(lambda: _delete(stack, name), grpc.StatusCode.NOT_FOUND) == "JOB_NOT_FOUND"
    assert not any(folder.exists() for folder in _folders(stack, name))
    listed = stack.stub().ListTrainingJobs(pb.ListTrainingJobsRequest())
    assert name not in [job.name for job in listed.training_jobs]


def test_a_running_job_is_deleted_only_with_force_stops_wherever_it_runs_and_leaves_nothing(stack, archive):
    name = _create(stack, archive, 5000)
    events: list[pb.WatchTrainingJobResponse] = []
    for event in stack.stub(replica=0).WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=300):
        events.append(event)
        if event.HasField("step") and event.step.step == 1:
            reason = _refused(lambda: _delete(stack, name), grpc.StatusCode.FAILED_PRECONDITION)
            assert reason == "JOB_NOT_FINISHED"
            _delete(stack, name, force=True)  # on the other replica: returns once the job has stopped
            assert not any(folder.exists() for folder in _folders(stack, name))
    assert events[-1].state_change.state == State.STATE_CANCELLED  # the watch ended normally
    get = pb.GetTrainingJobRequest(name=name)
    assert _refused(lambda: stack.stub().GetTrainingJob(get), grpc.StatusCode.NOT_FOUND) == "JOB_NOT_FOUND"
    time.sleep(1.0)  # nothing of the job is written after it stopped
    assert not any(folder.exists() for folder in _folders(stack, name))
