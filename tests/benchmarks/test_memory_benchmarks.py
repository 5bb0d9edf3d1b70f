"""The memory benchmarks at tiny size, so they cannot rot: the GPU step benchmark as its command runs on the
CPU and builds the real size on the meta device, and the estimator meets the measured peaks of the tiny
preset within the issue's bounds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.benchmarks import memory_plan
from tests.benchmarks.preconditions import Preconditions
from train_svc.models.base_model import resolve_base_model
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration  # child processes and tiny training runs: ~10-30 s each


def _gpu_step(*args: str) -> dict:
    command = [sys.executable, "-m", "tests.benchmarks.gpu_step", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("preconditions checked and held (gpu_step)")
    return json.loads(lines[-2])


def test_gpu_step_runs_on_the_cpu_at_tiny_size_beside_its_prediction(offline_model_cache):
    result = _gpu_step("--device", "cpu", "--size", "tiny", "--frames", "17", "--width", "64", "--height", "64")
    assert result["steps"] == 5 and result["seconds_per_step"] > 0 and result["tokens_per_second"] > 0
    assert result["parameters"]["lora"] > 0 and result["model_flops_per_step"] > 0
    assert result["mfu"] is None  # no GPU, no peak rate
    assert 0.8 <= result["predicted"]["ratio_peak"] <= 1.25


def test_gpu_step_builds_the_real_size_on_the_meta_device(offline_model_cache):
    result = _gpu_step("--device", "meta", "--size", "real", "--audio")
    assert result["parameters"] == {"transformer": 18_988_838_144, "lora": 213_909_504}
    assert result["steps"] == 0 and result["seconds_per_step"] is None
    assert result["settings"] == "--base-weights bf16"
    assert result["predicted"]["peak_memory_bytes"] > 35 * 2**30  # the bf16 base alone is 35.4 GiB


def test_the_estimator_predicts_the_tiny_presets_measured_peak_at_three_buckets(offline_model_cache):
    checks = Preconditions("memory_plan")
    buckets = [(17, 64, False), (33, 128, False), (49, 192, True)]
    rows = memory_plan.calibrate(resolve_base_model(PRESET_NAME), buckets, steps=2, checks=checks)
    assert [row.tokens for row in rows] == sorted(row.tokens for row in rows)
    for row in rows:
        assert 0.8 <= row.ratio <= 1.25, f"{row.bucket}: predicted {row.predicted:,} measured {row.measured:,}"
    assert checks.held[memory_plan.AUDIO_TOKENS] == 1


def test_the_memory_settings_table_measures_what_each_setting_changes(offline_model_cache):
    checks = Preconditions("memory_plan")
    model = resolve_base_model(PRESET_NAME)
    sample = memory_plan.make_sample(model.path, memory_plan.choose_placement("cpu", "fp32"), 17, 64)
    rows = {row.name.split(" (")[0]: row for row in memory_plan.settings_table(model.path, sample, 2, checks)}
    default = rows["default"]
    assert rows["caches off"].peak_bytes > default.peak_bytes and rows["caches off"].base_bytes > default.base_bytes
    assert rows["gradient checkpointing off"].peak_bytes > default.peak_bytes
    for kind in ("bf16 base", "int8 base", "fp8 base"):
        assert rows[kind].base_bytes < 0.7 * default.base_bytes
    assert checks.held[memory_plan.QUANTIZED] == 2
