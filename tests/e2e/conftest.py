"""Both services on loopback ports in a background event loop, for tests that talk to them over gRPC."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.demo_dataset import make_demo_dataset
from train_svc.models.tiny_preset import PRESET_NAME

PREVIEW_STEPS = 2  # denoising steps of a validation preview: enough to exercise the pipeline, cheap on a CPU


@dataclass
class Services:
    storage: Path
    training_target: str
    preprocess_target: str
    stub: pb_grpc.TrainingServiceStub

    def create(self, **fields) -> pb.TrainingJob:
        return self.stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=pb.TrainingInput(**fields)))

    def events(self, name: str, after: int = 0) -> list[pb.TrainingJobEvent]:
        request = pb.WatchTrainingJobRequest(name=name, after_sequence=after)
        return list(self.stub.WatchTrainingJob(request, timeout=600))

    def run(self, **fields) -> tuple[pb.TrainingJob, list[pb.TrainingJobEvent]]:
        """Create a job, follow it to its end, return its final record and every event."""
        job = self.create(**fields)
        events = self.events(job.name)
        return self.stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name)), events


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="services-loop", daemon=True)
        self.thread.start()

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=300)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def services(tmp_path_factory) -> Iterator[Services]:
    from shared.cli.local_services import local_services

    storage = tmp_path_factory.mktemp("storage")
    host = LoopThread()
    context = local_services(storage, PRESET_NAME, preview_steps=PREVIEW_STEPS)
    targets = host.call(context.__aenter__())
    channel = grpc.insecure_channel(targets.training_target)
    try:
        yield Services(
            storage, targets.training_target, targets.preprocess_target, pb_grpc.TrainingServiceStub(channel)
        )
    finally:
        channel.close()
        host.call(context.__aexit__(None, None, None))
        host.close()


@pytest.fixture(scope="session")
def demo_zip(tmp_path_factory) -> Path:
    """Five clips with motion in two folders: set_a/clip.mp4 and set_b/clip.mp4 clash, one has no caption."""
    return make_demo_dataset(tmp_path_factory.mktemp("data") / "demo.zip", seconds=1.5)


@pytest.fixture(scope="session")
def finished_job(services, tmp_path_factory) -> pb.TrainingJob:
    """A small job that succeeded: its LoRA for generation tests, its outputs for download tests."""
    from shared.api import common_pb2

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
    assert job.state == pb.TrainingJob.State.SUCCEEDED, job.error
    return job


@dataclass
class OwnServices:
    host: LoopThread
    training: object  # train_svc.server.TrainingService
    target: str


@contextmanager
def own_services(storage: Path, **training_settings) -> Iterator[OwnServices]:
    """Both services on `storage` for one test, the training service with its own settings."""
    from preprocess_svc.config import PreprocessServiceConfig
    from preprocess_svc.server import serve as serve_preprocess
    from train_svc.config import TrainServiceConfig
    from train_svc.server import serve as serve_training

    host = LoopThread()
    preprocess = host.call(serve_preprocess(PreprocessServiceConfig(storage=storage, port=0)))
    try:
        config = TrainServiceConfig(
            storage=storage,
            preprocess_target=f"127.0.0.1:{preprocess.port}",
            base_model=PRESET_NAME,
            port=0,
            **training_settings,
        )
        training = host.call(serve_training(config))
        try:
            yield OwnServices(host, training, f"127.0.0.1:{training.port}")
        finally:
            if not training.manager.draining:
                host.call(training.stop(grace=2.0))
    finally:
        host.call(preprocess.stop(grace=1.0))
        host.close()
