"""A dataset trained once is not preprocessed or encoded again: a resubmission goes straight to training."""

from __future__ import annotations

import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset

pytestmark = pytest.mark.integration


def _before_first_step(events: list[pb.WatchTrainingJobResponse]) -> list[pb.WatchTrainingJobResponse]:
    first = next(i for i, e in enumerate(events) if e.HasField("step"))
    return events[:first]


def test_resubmitting_an_archive_with_another_learning_rate_reuses_its_bundles_and_latents(services, tmp_path):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.25, size=(160, 96))
    request = dict(
        training_data_url=str(archive),
        rank=8,
        number_of_steps=100,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
        aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
    )
    first, first_events = services.run(**request, learning_rate=1e-4)
    second, second_events = services.run(**request, learning_rate=3e-4)
    assert first.state == second.state == pb.TrainingJob.State.STATE_SUCCEEDED

    [first_ready] = [e.dataset_ready for e in first_events if e.HasField("dataset_ready")]
    assert not first_ready.from_cache
    assert not any(e.sample_encoded.from_cache for e in first_events if e.HasField("sample_encoded"))

    setup = _before_first_step(second_events)
    [ready] = [e.dataset_ready for e in setup if e.HasField("dataset_ready")]
    assert ready.from_cache and ready.cache_key == first_ready.cache_key and ready.samples == 2
    encoded = [e.sample_encoded for e in setup if e.HasField("sample_encoded")]
    assert len(encoded) == 2 and all(s.from_cache for s in encoded)
    assert {s.bundle.sha256 for s in encoded} == {
        e.sample_encoded.bundle.sha256 for e in first_events if e.HasField("sample_encoded")
    }
    assert second.dataset_report == first.dataset_report  # the report comes with the cached bundles
    assert second.result.lora_file.sha256 != first.result.lora_file.sha256  # trained anew, at its own rate
