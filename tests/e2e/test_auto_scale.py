"""auto_scale_input end to end: a dataset of clips all too short for number_of_frames trains."""

from __future__ import annotations

import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_short_clips_zip

pytestmark = pytest.mark.integration

SUCCEEDED = pb.TrainingJob.State.STATE_SUCCEEDED


def test_auto_scale_turns_an_all_too_short_dataset_into_a_trained_lora(services, tmp_path):
    archive = make_short_clips_zip(tmp_path / "short.zip", frames=10)

    job, events = services.run(
        training_data_url=str(archive),
        number_of_steps=100,
        number_of_frames=25,
        resolution=common_pb2.RESOLUTION_LOW,
        auto_scale_input=True,
    )

    assert job.state == SUCCEEDED, job.error
    assert not [e.skipped_file for e in events if e.HasField("skipped_file")]
    assert "auto_scale_input" not in {e.warning.path for e in events if e.HasField("warning")}
    assert job.result.lora_file.uri
