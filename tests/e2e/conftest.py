"""Both services on loopback ports, with authentication on, for tests that talk to them over gRPC.

The session's services are shared by the e2e tests; tests act as alice unless they say otherwise
(`services.stub("bob")`, `services.channel("ops")`). Local archives may be read from pytest's temporary
folders (the services' own storage, which lies among them, never).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset
from tests.principals import Principals
from tests.service_stack import Stack, service_stack
from train_svc.job_run.settings import RunSettings

PREVIEW_STEPS = 2  # denoising steps of a validation preview: enough to exercise the pipeline, cheap on a CPU
# A cheap GenerateVideoRequest: low 16:9 = 512x288, the smallest bucket; 9 frames, 2 steps.
SMALL_GENERATION = dict(
    prompt="zqx a lantern swinging in the rain",
    number_of_frames=9,
    resolution=common_pb2.RESOLUTION_LOW,
    aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
    steps=2,
    seed=3,
)


@dataclass
class Services:
    stack: Stack

    @property
    def storage(self) -> Path:
        return self.stack.storage

    @property
    def training_target(self) -> str:
        return self.stack.training_target

    @property
    def preprocess_target(self) -> str:
        return self.stack.preprocess_target

    @property
    def principals(self) -> Principals:
        return self.stack.principals

    @property
    def stub(self):
        """alice's TrainingService stub."""
        return self.stack.stub("alice")

    def channel(self, principal: str = "alice", **options):
        return self.stack.channel(principal, **options)

    def env(self, principal: str = "alice") -> dict[str, str]:
        """Environment for a CLI run as `principal`."""
        return {"LTX_TOKEN": self.principals.tokens[principal]}

    def create(self, **fields) -> pb.TrainingJob:
        return self.stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=pb.TrainingInput(**fields)))

    def events(self, name: str, after: int = 0) -> list[pb.WatchTrainingJobResponse]:
        request = pb.WatchTrainingJobRequest(name=name, after_sequence=after)
        return list(self.stub.WatchTrainingJob(request, timeout=600))

    def run(self, **fields) -> tuple[pb.TrainingJob, list[pb.WatchTrainingJobResponse]]:
        """Create a job, follow it to its end, return its final record and every event."""
        job = self.create(**fields)
        events = self.events(job.name)
        return self.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name)), events


@pytest.fixture(scope="session")
def services(tmp_path_factory, principals) -> Iterator[Services]:
    storage = tmp_path_factory.mktemp("storage")
    allowed = (tmp_path_factory.getbasetemp(),)
    with service_stack(
        storage, principals, allow_local_roots=allowed, run=RunSettings(preview_steps=PREVIEW_STEPS)
    ) as stack:
        yield Services(stack)


@pytest.fixture(scope="session")
def demo_zip(tmp_path_factory) -> Path:
    """Five clips with motion in two folders: set_a/clip.mp4 and set_b/clip.mp4 clash, one has no caption."""
    return make_demo_dataset(tmp_path_factory.mktemp("data") / "demo.zip", seconds=1.5)


@pytest.fixture(scope="session")
def finished_job(services, tmp_path_factory) -> pb.TrainingJob:
    """A small job that succeeded: its LoRA for generation tests, its outputs for download tests."""
    archive = make_demo_dataset(tmp_path_factory.mktemp("small") / "clips.zip", clips=3, seconds=1.0, size=(128, 128))
    job, _ = services.run(
        training_data_url=str(archive),
        trigger_phrase="zqx",
        rank=8,
        number_of_steps=100,
        learning_rate=2e-3,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
        aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
    )
    assert job.state == pb.TrainingJob.State.STATE_SUCCEEDED, job.error
    return job


@contextmanager
def own_services(storage: Path, principals: Principals, **training_settings) -> Iterator[Stack]:
    """Both services on `storage` for one test, the training service with its own settings."""
    allowed = (storage.parent,)
    with service_stack(storage, principals, allow_local_roots=allowed, **training_settings) as stack:
        yield stack
