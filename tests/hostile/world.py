"""The real services the hostile corpus runs against, and the objects a hostile caller goes after.

One authenticated stack (tokens: alice and bob are tenants, ops an admin, train-service internal) whose
local archives may come only from `allowed`, and whose fetches may reach only 127.0.0.1 (the corpus's
own HTTP server), within a 3 s deadline. alice's finished job, upload and generation are made on first
use, for the tenancy cases to go after.
"""

from __future__ import annotations

import functools
import hashlib
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from shared.api import common_pb2
from shared.api import generation_pb2 as gen_pb
from shared.api import preprocess_service_pb2 as ppb
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset
from shared.fetch_policy import FetchPolicy, parse_cidrs
from tests.hostile.corpus import Outcome, attempt
from tests.loopback_http import HttpServer, serving
from tests.principals import INTERNAL, Principals
from tests.service_stack import Stack, service_stack
from train_svc.cli.upload import upload_messages
from train_svc.job_run.settings import RunSettings

ESCAPE_PREFIX = "ltx-hostile-escape"  # absolute archive entries aim at /tmp/<this>...
FINAL = (pb.TrainingJob.State.STATE_SUCCEEDED, pb.TrainingJob.State.STATE_FAILED, pb.TrainingJob.State.STATE_CANCELLED)
TINY_JOB = {
    "rank": 8,
    "number_of_steps": 100,
    "number_of_frames": 9,
    "resolution": common_pb2.RESOLUTION_LOW,
    "aspect_ratio": common_pb2.ASPECT_RATIO_16_9,
}


@dataclass
class World:
    stack: Stack
    principals: Principals
    folder: Path  # the corpus's own files
    allowed: Path  # the only folder local archives may come from
    http: HttpServer  # 127.0.0.1, serving http.root

    # --- calling ---------------------------------------------------------------------------------
    def stub(self, principal: str = "alice"):
        return self.stack.stub(principal)

    def preprocess_stub(self, principal: str = "alice"):
        return self.stack.preprocess_stub(principal)

    def create(self, principal: str = "alice", **fields: Any) -> Outcome:
        request = pb.CreateTrainingJobRequest(input=pb.TrainingInput(**fields))
        return attempt(lambda: self.stub(principal).CreateTrainingJob(request, timeout=30))

    def job_outcome(self, training_data_url: str, principal: str = "alice", **fields: Any) -> Outcome:
        """Create a job and wait for its end: OK, or the status it was refused or failed with."""
        request = pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=training_data_url, **fields))
        stub = self.stub(principal)
        try:
            job = stub.CreateTrainingJob(request, timeout=30)
        except grpc.RpcError as err:
            return Outcome.of_error(err)
        job = self.wait(job.name, principal)
        return Outcome("OK") if job.state == pb.TrainingJob.State.STATE_SUCCEEDED else Outcome.of_status(job.error)

    def wait(self, name: str, principal: str = "alice", timeout_s: float = 600) -> pb.TrainingJob:
        deadline = time.monotonic() + timeout_s
        stub = self.stub(principal)
        while time.monotonic() < deadline:
            job = stub.GetTrainingJob(pb.GetTrainingJobRequest(name=name), timeout=30)
            if job.state in FINAL:
                return job
            time.sleep(0.1)
        raise AssertionError(f"{name} did not end within {timeout_s} s")

    def preprocess(self, url: str, owner: str = "alice", **fields: Any) -> list[ppb.PreprocessResponse]:
        """A Preprocess run as the training service would ask for it (raises grpc.RpcError)."""
        request = ppb.PreprocessRequest(
            dataset_id=hashlib.sha256(f"{url}{time.monotonic_ns()}".encode()).hexdigest()[:16],
            owner=owner,
            training_data_url=url,
            **{"number_of_frames": 9, "frame_rate": 24, "width": 64, "height": 64, **fields},
        )
        return list(self.preprocess_stub(INTERNAL).Preprocess(request, timeout=300))

    # --- what a hostile caller goes after --------------------------------------------------------
    @functools.cached_property
    def alice_job(self) -> pb.TrainingJob:
        archive = make_demo_dataset(self.allowed / "alice-clips.zip", clips=2, seconds=1.0, size=(128, 128))
        job = self.stub("alice").CreateTrainingJob(
            pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=str(archive), **TINY_JOB))
        )
        job = self.wait(job.name)
        assert job.state == pb.TrainingJob.State.STATE_SUCCEEDED, job.error
        return job

    @functools.cached_property
    def alice_upload(self) -> str:
        archive = make_demo_dataset(self.folder / "alice-upload.zip", clips=2, seconds=1.0, size=(64, 64))
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        return self.preprocess_stub("alice").UploadArchive(upload_messages(archive, digest), timeout=60).uri

    @functools.cached_property
    def alice_generation(self) -> gen_pb.GenerationResult:
        request = gen_pb.GenerateVideoRequest(
            prompt="a red ball", number_of_frames=9, steps=2, resolution=common_pb2.RESOLUTION_LOW
        )
        events = list(self.stub("alice").GenerateVideo(request, timeout=300))
        return events[-1].result

    @functools.cached_property
    def alice_cached_run(self) -> tuple[Path, list[ppb.PreprocessResponse]]:
        """An archive preprocessed twice for alice (the second run a hit of her cache), and that run's events."""
        archive = make_demo_dataset(self.allowed / "alice-cached.zip", clips=2, seconds=0.5, size=(64, 64))
        self.preprocess(str(archive), owner="alice")
        return archive, self.preprocess(str(archive), owner="alice")

    def lora_path(self) -> str:
        """The local path of alice's finished job's LoRA, on the service's storage."""
        from shared.bundle import path_from_uri

        return str(path_from_uri(self.alice_job.result.lora_file.uri))


def open_world(exits: ExitStack, folder: Path, principals: Principals) -> World:
    allowed = folder / "allowed"
    allowed.mkdir(parents=True)
    www = folder / "www"
    www.mkdir()
    http = exits.enter_context(serving(www))
    storage = folder / "storage"
    policy = dict(
        allow_local_roots=(allowed,), allow_cidrs=parse_cidrs(["127.0.0.1/32"]), deadline_s=3.0, read_timeout_s=2.0
    )
    stack = exits.enter_context(
        service_stack(
            storage,
            principals,
            preprocess_settings={"fetch": FetchPolicy(**policy, storage_root=storage)},
            fetch=FetchPolicy(**policy, storage_root=storage),
            run=RunSettings(preview_steps=2),
        )
    )
    return World(stack, principals, folder, allowed, http)
