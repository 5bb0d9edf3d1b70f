"""Bundles by value: the two services share no storage, and a job still trains on every sample."""

from __future__ import annotations

import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri, sha256_file
from shared.demo_dataset import make_demo_dataset
from tests.e2e.conftest import Services
from tests.service_stack import service_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def apart(tmp_path_factory, principals):
    """Both services, each on its own storage root; train_svc asks for bundles by value."""
    train_storage = tmp_path_factory.mktemp("train-storage")
    preprocess_storage = tmp_path_factory.mktemp("preprocess-storage")
    with service_stack(
        train_storage,
        principals,
        allow_local_roots=(tmp_path_factory.getbasetemp(),),
        preprocess_storage=preprocess_storage,
        link_settings={"bundle_delivery": "value"},
    ) as stack:
        yield Services(stack), preprocess_storage


def test_a_job_trains_on_bundles_received_over_grpc(apart, tmp_path):
    services, preprocess_storage = apart
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=3, seconds=1.0, size=(128, 128))

    job, events = services.run(
        training_data_url=str(archive),
        rank=8,
        number_of_steps=100,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
    )

    assert job.state == pb.TrainingJob.State.STATE_SUCCEEDED, job.error
    encoded = [e.sample_encoded.bundle for e in events if e.HasField("sample_encoded")]
    assert len(encoded) == 3
    job_bundles = services.storage / "jobs" / job.name.removeprefix("trainingJobs/") / "bundles"
    for bundle in encoded:
        path = path_from_uri(bundle.uri)
        assert path.parent == job_bundles  # on the training service's own storage
        assert sha256_file(path) == bundle.sha256 and path.stat().st_size == bundle.size_bytes
    # The preprocessor kept no copy once the bytes were sent, and wrote nothing to the trainer's storage.
    assert list(preprocess_storage.glob("datasets/*/bundles/*.safetensors")) == []
    assert not (services.storage / "datasets").exists()
