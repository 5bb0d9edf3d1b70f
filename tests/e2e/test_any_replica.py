"""Any replica answers for any job: two training services in one process on one PostgreSQL store and one
storage root, each hosting the default LTX-2.3 base and `v25` (LTX-2.5). A cancel sent to the replica that
does not run the job stops it within a step; its outputs download from either replica; a job on `v25` reads
the same from both, and its LoRA generates on the replica that did not train it, on the job's base."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from shared.api import common_pb2
from shared.api import generation_pb2 as gen_pb
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset
from tests.e2e.conftest import SMALL_GENERATION
from tests.e2e.replica_jobs import claimed_by
from tests.service_stack import Stack, service_stack
from train_svc.jobs.store import StoreSettings
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.models.tiny_preset_25 import PRESET_NAME as PRESET_NAME_25

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory, principals, postgres_server) -> Iterator[Stack]:
    storage = tmp_path_factory.mktemp("storage")
    store = StoreSettings(url=postgres_server.database(), lease_seconds=5.0)
    allowed = (tmp_path_factory.getbasetemp(),)
    bases = (PRESET_NAME, f"v25={PRESET_NAME_25}")
    with service_stack(
        storage, principals, allow_local_roots=allowed, replicas=2, store=store, base_model=bases
    ) as running:
        yield running


def test_a_cancel_sent_to_the_other_replica_stops_the_job_within_a_step(stack, tmp_path):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    training_input = pb.TrainingInput(
        training_data_url=str(archive), number_of_steps=1000, number_of_frames=9, rank=8, learning_rate=1e-4
    )
    with capture_logs() as logs:
        name = stack.stub().CreateTrainingJob(pb.CreateTrainingJobRequest(input=training_input)).name
        holder = claimed_by(stack, logs, name)
    other = stack.stub(replica=1 - holder)
    steps_before = 0
    for event in other.WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=300):
        if event.HasField("step") and event.step.step >= 3:
            steps_before = event.step.step
            break
    cancelled = other.CancelTrainingJob(pb.CancelTrainingJobRequest(name=name))
    assert cancelled.state != pb.TrainingJob.State.STATE_CANCELLED, "it was running: its holder ends it"
    events = list(other.WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=300))
    final = stack.stub(replica=holder).GetTrainingJob(pb.GetTrainingJobRequest(name=name))
    assert final.state == pb.TrainingJob.State.STATE_CANCELLED and final.billable_units == 0
    last_step = max(e.step.step for e in events if e.HasField("step"))
    assert last_step <= steps_before + 2, f"asked at step {steps_before}, stopped after step {last_step}"

    for replica in (0, 1):  # the dataset report it wrote, from either replica
        chunks = list(
            stack.stub(replica=replica).DownloadArtifact(
                pb.DownloadArtifactRequest(name=name, artifact="dataset_report"), timeout=60
            )
        )
        head, data = chunks[0].artifact, b"".join(chunk.data for chunk in chunks[1:])
        assert head.name == "dataset_report" and hashlib.sha256(data).hexdigest() == head.sha256


def test_a_job_on_the_25_base_reads_the_same_on_both_replicas_and_generates_on_the_other(stack, tmp_path):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(96, 96))
    training_input = pb.TrainingInput(
        training_data_url=str(archive),
        base_model="v25",
        number_of_steps=100,
        number_of_frames=9,
        rank=8,
        resolution=common_pb2.RESOLUTION_LOW,
        aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
    )
    with capture_logs() as logs:
        name = stack.stub().CreateTrainingJob(pb.CreateTrainingJobRequest(input=training_input)).name
        holder = claimed_by(stack, logs, name)
    other = stack.stub(replica=1 - holder)
    events = list(other.WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=300))
    assert [e.step.step for e in events if e.HasField("step")] == list(range(1, 101))
    for replica in (0, 1):
        job = stack.stub(replica=replica).GetTrainingJob(pb.GetTrainingJobRequest(name=name))
        assert job.state == pb.TrainingJob.State.STATE_SUCCEEDED, job.error
        assert (job.ltx_version, job.input.base_model, job.base_model) == ("2.5", "v25", PRESET_NAME_25)

    generated = list(other.GenerateVideo(gen_pb.GenerateVideoRequest(job=name, **SMALL_GENERATION), timeout=300))
    result = generated[-1].result
    assert (result.base_model, result.ltx_version) == ("v25", "2.5")  # the job's base, not the default
    assert result.video.uri and not result.HasField("lora_fit")
