"""debug_dataset=true: the job hands back the samples as trained, viewable, before training starts."""

from __future__ import annotations

import io
import json
import zipfile

import av
import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri, sha256_file
from shared.demo_dataset import make_demo_dataset

pytestmark = pytest.mark.integration

SUCCEEDED = pb.TrainingJob.State.STATE_SUCCEEDED


@pytest.fixture(scope="module")
def finished(services, tmp_path_factory):
    data = make_demo_dataset(tmp_path_factory.mktemp("debug") / "demo.zip", clips=3, seconds=1.0, size=(128, 128))
    return services.run(
        training_data_url=str(data),
        trigger_phrase="sepiatone",
        number_of_steps=100,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
        debug_dataset=True,
    )


def test_job_succeeds_and_lists_the_debug_dataset(finished):
    job, events = finished
    assert job.state == SUCCEEDED, job.error
    artifact = job.result.debug_dataset
    path = path_from_uri(artifact.uri)
    assert path.name == "debug_dataset.zip"
    assert sha256_file(path) == artifact.sha256 and path.stat().st_size == artifact.size_bytes
    result = json.loads(path_from_uri(job.result.result_file.uri).read_text())
    assert result["debug_dataset"]["sha256"] == artifact.sha256
    assert result["debug_dataset"]["content_type"] == "application/zip"
    assert not any(e.HasField("warning") and e.warning.path == "debug_dataset" for e in events)


def test_archive_holds_one_viewable_file_and_caption_per_sample(finished):
    job, events = finished
    encoded = {
        e.sample_encoded.bundle.sample_id: e.sample_encoded.bundle for e in events if e.HasField("sample_encoded")
    }
    with zipfile.ZipFile(path_from_uri(job.result.debug_dataset.uri)) as archive:
        manifest = json.loads(archive.read("manifest.json"))["samples"]
        assert sorted(m["sample_id"] for m in manifest) == sorted(encoded)
        for entry in manifest:
            bundle = encoded[entry["sample_id"]]
            assert entry["caption"] == bundle.caption and bundle.caption.startswith("sepiatone")
            assert archive.read(entry["caption_file"]).decode().strip() == bundle.caption
            assert entry["file"].endswith(".mp4")
            with av.open(io.BytesIO(archive.read(entry["file"]))) as container:
                frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
            assert len(frames) == bundle.frames == 9
            assert frames[0].shape == (bundle.height, bundle.width, 3)
        assert len(archive.namelist()) == 2 * len(manifest) + 1


def test_debug_dataset_is_announced_before_training_starts(finished):
    _, events = finished
    kinds = [
        "debug" if e.HasField("artifact") else "step"
        for e in events
        if e.HasField("step") or (e.HasField("artifact") and e.artifact.name == "debug_dataset")
    ]
    assert kinds.index("debug") < kinds.index("step")
    assert kinds.count("debug") == 1


def test_debug_dataset_outlives_a_cancelled_training(services, tmp_path):
    data = make_demo_dataset(tmp_path / "demo.zip", clips=2, seconds=1.0, size=(128, 128))
    job = services.create(
        training_data_url=str(data),
        trigger_phrase="sepiatone",
        number_of_steps=5000,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
        debug_dataset=True,
    )
    watch = services.stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job.name), timeout=600)
    encoded = set()
    for event in watch:
        if event.HasField("sample_encoded"):
            encoded.add(event.sample_encoded.bundle.sample_id)
        if event.HasField("artifact") and event.artifact.name == "debug_dataset":
            services.stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=job.name))
    final = services.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
    assert final.state == pb.TrainingJob.State.STATE_CANCELLED
    assert final.billable_units == 0 and not final.result.HasField("lora_file")
    with zipfile.ZipFile(path_from_uri(final.result.debug_dataset.uri)) as archive:
        assert encoded and {m["sample_id"] for m in json.loads(archive.read("manifest.json"))["samples"]} == encoded
