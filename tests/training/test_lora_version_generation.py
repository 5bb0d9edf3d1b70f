"""GenerationService with a LoRA made for LTX-2.3 offered to an LTX-2.5 base (both tiny presets), in-process:
refused naming both versions and the module that does not fit, unless the order allows the mismatch; then the
modules that fit are loaded and the result says which were skipped. One service hosts both bases, so the
pipeline is also switched from one base to the other and back."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from structlog.testing import capture_logs

from shared.request.errors import ErrorCode
from tests.lora_files import ONLY_IN_23, random_lora_state, with_prompt_adaln, write_test_lora
from tests.training.generation_calls import finished_generation as run
from tests.training.generation_calls import frames, no_jobs, own_lines
from train_svc.accelerator import AcceleratorSlots
from train_svc.generation.lora_check import LoraVersionMismatch
from train_svc.generation.order import GenerationOrder
from train_svc.generation.request import GenerationRequest
from train_svc.generation.service import GenerationService, JobBaseNotHosted
from train_svc.jobs.events import ArtifactWritten, JobState
from train_svc.jobs.job import Job
from train_svc.models.base_registry import BaseModels

pytestmark = pytest.mark.integration
RANK = 2


@pytest.fixture(scope="module")
def lora_23(tiny_model, tmp_path_factory):
    state = with_prompt_adaln(random_lora_state(tiny_model.path, rank=RANK), tiny_model.path, rank=RANK)
    return write_test_lora(tmp_path_factory.mktemp("lora") / "lora.safetensors", state, RANK, ltx_version="2.3")


def test_a_23_lora_is_refused_on_a_25_base_unless_allowed_and_the_pipeline_follows_the_base(
    tiny_model, tiny_model_25, placement, lora_23, tmp_path
):
    bases = BaseModels({"v23": tiny_model, "v25": tiny_model_25}, "v23")
    service = GenerationService(tmp_path, bases, placement, AcceleratorSlots(1), no_jobs)
    request = GenerationRequest(prompt="a red ball", num_frames=9, width=64, height=64, steps=2, lora_path=lora_23)
    try:
        with capture_logs() as logs:
            with pytest.raises(LoraVersionMismatch) as refused:
                run(service, GenerationOrder(request, base_model="v25"))
            allowed = run(service, GenerationOrder(replace(request, allow_version_mismatch=True), base_model="v25"))
            plain = run(service, GenerationOrder(replace(request, lora_path=None), base_model="v25"))
            default = run(service, GenerationOrder(request))  # the default base is 2.3: the LoRA's own version
    finally:
        service.shutdown()
    error = refused.value
    assert error.code is ErrorCode.FAILED_PRECONDITION and error.reason == "LORA_VERSION_MISMATCH"
    assert error.metadata == {"lora_version": "2.3", "base_version": "2.5"}
    assert "LTX-2.3" in error.message and "LTX-2.5" in error.message
    assert f"{ONLY_IN_23}: no such layer in the base" in error.message
    assert "allow_version_mismatch" in error.message
    assert len(list((tmp_path / "generations").glob("*/*"))) == 3  # the refused one left no folder

    fit = allowed.lora_fit
    assert allowed.base_model == "v25" and allowed.ltx_version == "2.5"
    assert fit is not None and (fit.lora_version, fit.base_version) == ("2.3", "2.5")
    assert fit.skipped == (f"{ONLY_IN_23}: no such layer in the base",)
    assert len(fit.loaded) > 0 and ONLY_IN_23 not in fit.loaded
    assert not np.array_equal(frames(allowed), frames(plain))  # the modules that fit were applied
    assert default.base_model == "v23" and default.ltx_version == "2.3" and default.lora_fit is None

    events = [entry["event"] for entry in own_lines(logs, service)]
    assert events.count("generation pipeline loaded") == 2  # the 2.5 base (kept after the refusal), then 2.3
    released = [entry for entry in own_lines(logs, service) if entry["event"] == "generation pipeline released"]
    assert [entry["base_model"] for entry in released] == [tiny_model_25.name]  # dropped for the 2.3 base


def finished_job(lora, base_id: str, base_version: str) -> Job:
    """A succeeded job that trained `lora` on the base `base_id`, as the job store gives it back."""
    artifact = ArtifactWritten("lora_file", lora.resolve().as_uri(), "0" * 64, lora.stat().st_size)
    return Job(
        id="0123456789abcdef",
        settings=None,
        input_json={"base_model": base_id},
        base_model="ltx2.5-tiny",
        owner="alice",
        base_version=base_version,
        state=JobState.SUCCEEDED,
        artifacts={"lora_file": artifact},
    )


def test_a_jobs_lora_runs_on_the_base_the_job_trained_on(tiny_model, tiny_model_25, placement, tmp_path):
    state = random_lora_state(tiny_model_25.path, rank=RANK)
    lora_25 = write_test_lora(tmp_path / "lora.safetensors", state, RANK, ltx_version="2.5")
    jobs = {"v25": finished_job(lora_25, "v25", "2.5"), "gone": finished_job(lora_25, "gone", "2.5")}
    bases = BaseModels({"v23": tiny_model, "v25": tiny_model_25}, "v23")
    service = GenerationService(tmp_path, bases, placement, AcceleratorSlots(1), lambda name, caller: jobs[name])
    request = GenerationRequest(prompt="a red ball", num_frames=9, width=64, height=64, steps=2)
    try:
        on_its_base = run(service, GenerationOrder(request, job="v25"))
        with pytest.raises(JobBaseNotHosted) as not_hosted:
            run(service, GenerationOrder(request, job="gone"))
    finally:
        service.shutdown()
    assert (on_its_base.base_model, on_its_base.ltx_version, on_its_base.lora_fit) == ("v25", "2.5", None)
    assert not_hosted.value.reason == "BASE_MODEL_NOT_HOSTED" and "'gone'" in not_hosted.value.message
