"""CancelTrainingJob: the job stops at the next step boundary, ends CANCELLED, bills 0, keeps a checkpoint."""

from __future__ import annotations

import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri
from shared.demo_dataset import make_demo_dataset

pytestmark = pytest.mark.integration


def test_a_cancelled_job_stops_at_a_step_boundary_and_keeps_its_checkpoint(services, tmp_path):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(112, 112))
    request = dict(
        training_data_url=str(archive),
        rank=8,
        number_of_steps=5000,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
    )
    job = services.create(**request)
    waiting = services.create(**request)  # one accelerator: it waits behind the first
    cancelled = services.stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=waiting.name))
    assert cancelled.state == pb.TrainingJob.State.STATE_CANCELLED and cancelled.billable_units == 0  # at once
    assert [e.state_change.state for e in services.events(waiting.name)] == [
        pb.TrainingJob.State.STATE_QUEUED,
        pb.TrainingJob.State.STATE_CANCELLED,
    ]
    events = []
    for event in services.stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job.name), timeout=600):
        events.append(event)
        if event.HasField("step") and event.step.step == 5:
            services.stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=job.name))
    final = services.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
    assert final.state == pb.TrainingJob.State.STATE_CANCELLED and final.billable_units == 0
    assert not final.result.HasField("lora_file")

    steps = [e.step.step for e in events if e.HasField("step")]
    assert steps == list(range(1, len(steps) + 1)) and steps[-1] >= 5
    checkpoint, end = events[-2], events[-1]
    assert checkpoint.HasField("checkpoint") and checkpoint.checkpoint.step == steps[-1] == final.progress.step
    assert path_from_uri(checkpoint.checkpoint.uri).stat().st_size == checkpoint.checkpoint.size_bytes
    assert end.state_change.state == pb.TrainingJob.State.STATE_CANCELLED
    assert f"checkpoint at step {steps[-1]} is kept" in end.state_change.message
