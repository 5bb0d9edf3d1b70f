"""A finished job's training curves: its TensorBoard event file and loss.png, as result.json lists them."""

from __future__ import annotations

import hashlib
import json

import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri

pytestmark = pytest.mark.integration


def test_outputs_hold_one_loss_point_per_recorded_step_and_a_loss_plot(services, finished_job):
    result = json.loads(path_from_uri(finished_job.result.result_file.uri).read_text())
    events_path = path_from_uri(result["tensorboard"]["url"])
    job_id = finished_job.name.split("/")[-1]
    assert events_path.parent.name == "tensorboard" and events_path.name == f"events.out.tfevents.{job_id}"
    accumulator = EventAccumulator(str(events_path.parent), size_guidance={SCALARS: 0})
    accumulator.Reload()
    steps = [e.step for e in services.events(finished_job.name) if e.HasField("step")]
    loss = accumulator.Scalars("loss")
    assert [point.step for point in loss] == [step.step for step in steps] == list(range(1, 101))
    assert [point.value for point in loss] == pytest.approx([step.loss for step in steps], rel=1e-6)
    assert len(accumulator.Scalars("grad_norm")) == len(accumulator.Scalars("learning_rate")) == 100
    assert any(tag.startswith("loss_by_sigma/") for tag in accumulator.Tags()["scalars"])
    plot = path_from_uri(result["loss_plot"]["url"])
    assert plot.name == "loss.png" and result["loss_plot"]["content_type"] == "image/png"
    with Image.open(plot) as image:
        assert image.format == "PNG"
    for artifact in ("tensorboard", "loss_plot"):  # served by DownloadArtifact under these names
        request = pb.DownloadArtifactRequest(name=finished_job.name, artifact=artifact)
        messages = list(services.stub.DownloadArtifact(request, timeout=60))
        data = b"".join(message.data for message in messages)
        assert hashlib.sha256(data).hexdigest() == messages[0].artifact.sha256 == result[artifact]["sha256"]
