"""A job on LTX-2.5 through both services, end to end: a service hosting an LTX-2.3 base (the default) and
an LTX-2.5 one trains on the 2.5 base with a validation preview, is stopped mid-run and resumes on the next
start, exports a LoRA that names its version, and generates with it on the 2.5 base (decoded by the
diffusion decoder). The same LoRA offered to the 2.3 base is refused, naming both versions."""

from __future__ import annotations

import json
import time

import av
import grpc
import pytest
from safetensors import safe_open

from shared.api import common_pb2
from shared.api import generation_pb2 as gen_pb
from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri
from shared.demo_dataset import make_demo_dataset
from shared.grpc_util.errors import error_details
from tests.e2e.conftest import PREVIEW_STEPS, own_services
from tests.e2e.processes import wait_for_step
from train_svc.job_run.settings import RunSettings
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.models.tiny_preset_25 import PRESET_NAME as PRESET_NAME_25

pytestmark = pytest.mark.integration

STEPS = 100
LOW_16_9 = dict(resolution=common_pb2.RESOLUTION_LOW, aspect_ratio=common_pb2.ASPECT_RATIO_16_9)  # 512x288
GENERATE = dict(prompt="zqx a red ball bouncing", number_of_frames=9, steps=2, seed=5, **LOW_16_9)


def _events(stack, name: str) -> list[pb.WatchTrainingJobResponse]:
    return list(stack.stub("alice").WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=600))


def _kinds(events: list[pb.WatchTrainingJobResponse], kind: str) -> list:
    return [getattr(e, kind) for e in events if e.WhichOneof("event") == kind]


def test_a_job_on_ltx25_trains_previews_resumes_exports_and_generates_on_its_version(tmp_path, principals):
    storage = tmp_path / "storage"
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(96, 96))
    settings = dict(
        base_model=(PRESET_NAME, f"v25={PRESET_NAME_25}"),
        run=RunSettings(preview_steps=PREVIEW_STEPS, checkpoint_every=10),
    )
    training_input = pb.TrainingInput(
        training_data_url=str(archive),
        base_model="v25",
        trigger_phrase="zqx",
        rank=8,
        number_of_steps=STEPS,
        learning_rate=2e-3,
        number_of_frames=9,
        validation=[pb.ValidationPrompt(prompt="zqx a red ball bouncing")],
        validation_number_of_frames=9,
        validation_resolution=common_pb2.RESOLUTION_LOW,
        validation_aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
        **LOW_16_9,
    )
    with own_services(storage, principals, **settings) as first:
        job = first.stub("alice").CreateTrainingJob(pb.CreateTrainingJobRequest(input=training_input))
        assert (job.ltx_version, job.input.base_model, job.base_model) == ("2.5", "v25", PRESET_NAME_25)
        wait_for_step(first.training_target, job.name, 30, credentials=principals.credentials("alice"))
        first.host.call(first.training.wind_down(time.monotonic() + 30))  # checkpoints and stops the job

    with own_services(storage, principals, **settings) as second:
        events = _events(second, job.name)
        stub = second.stub("alice")
        done = stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
        assert done.state == pb.TrainingJob.State.STATE_SUCCEEDED, done.error
        assert (done.ltx_version, done.input.base_model, done.base_model) == ("2.5", "v25", PRESET_NAME_25)
        [resumed] = _kinds(events, "resumed")
        assert resumed.from_step >= 30
        assert [s.step for s in _kinds(events, "step")][-1] == STEPS
        assert _kinds(events, "preview"), "no validation preview was rendered on the 2.5 base"

        with safe_open(str(path_from_uri(done.result.lora_file.uri)), "pt") as lora:
            assert lora.metadata()["ltx_version"] == "2.5"
        config = json.loads(path_from_uri(done.result.config_file.uri).read_text())
        assert config["ltx_version"] == "2.5"
        report = json.loads(path_from_uri(done.result.dataset_report.uri).read_text())
        assert report["ltx_version"] == "2.5"

        generated = list(stub.GenerateVideo(gen_pb.GenerateVideoRequest(job=job.name, **GENERATE), timeout=300))
        result = generated[-1].result
        assert (result.base_model, result.ltx_version) == ("v25", "2.5")
        assert not result.HasField("lora_fit")
        with av.open(str(path_from_uri(result.video.uri))) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        assert len(frames) == 9 and frames[0].shape == (288, 512, 3)

        with pytest.raises(grpc.RpcError) as refused:
            list(stub.GenerateVideo(gen_pb.GenerateVideoRequest(job=job.name, base_model="default", **GENERATE)))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        _, info = error_details(refused.value)
        assert info.reason == "LORA_VERSION_MISMATCH"
        assert "LTX-2.5" in refused.value.details() and "LTX-2.3" in refused.value.details()
