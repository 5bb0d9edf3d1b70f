"""config.json and result.json: the companions of lora.safetensors in a job's output folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.bundle import sha256_file

LORA_FILE = "lora.safetensors"
CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
VIDEO_FILE = "preview.mp4"
DEBUG_DATASET_FILE = "debug_dataset.zip"
DATASET_REPORT_FILE = "dataset_report.json"


@dataclass(frozen=True)
class OutputFile:
    path: Path
    sha256: str
    size_bytes: int

    @property
    def uri(self) -> str:
        return self.path.resolve().as_uri()

    def as_json(self, content_type: str) -> dict[str, Any]:
        return {
            "url": self.uri,
            "file_name": self.path.name,
            "file_size": self.size_bytes,
            "content_type": content_type,
            "sha256": self.sha256,
        }


def describe(path: Path) -> OutputFile:
    return OutputFile(path=path, sha256=sha256_file(path), size_bytes=path.stat().st_size)


def write_json(path: Path, data: dict[str, Any]) -> OutputFile:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return describe(path)


def inference_config(
    *,
    settings_json: dict[str, Any],
    base_model: str,
    ltx_version: str,
    rank: int,
    alpha: float,
    audio: bool,
    base_weights: str,
) -> dict[str, Any]:
    """What a user needs to use the LoRA: trigger phrase, training type, the base's LTX version and matching
    inference settings."""
    return {
        "trigger_phrase": settings_json.get("trigger_phrase", ""),
        "training_type": "t2v",
        "with_audio": audio,
        "base_model": base_model,
        # the LTX version of the base the LoRA was trained on, as its metadata (ltx_version) names it
        "ltx_version": ltx_version,
        # What the frozen transformer's blocks were stored as while the LoRA trained (int8/fp8: quantized);
        # the LoRA loads into the full-precision base either way.
        "trained_on_base_weights": base_weights,
        "lora_file": LORA_FILE,
        "lora_format": "ltx2-original (diffusion_model.* keys, alpha folded into lora_B)",
        "rank": rank,
        "alpha": alpha,
        "recommended_inference": {
            "frame_rate": settings_json.get("frame_rate"),
            "resolution": settings_json.get("resolution"),
            "aspect_ratio": settings_json.get("aspect_ratio"),
            "number_of_frames": settings_json.get("number_of_frames"),
            "prompt_hint": "Prompt the way the captions were written, trigger phrase included.",
        },
        "training_settings": settings_json,
    }


def result_document(
    *,
    lora: OutputFile,
    config: OutputFile,
    video: OutputFile | None,
    debug: OutputFile | None,
    report: OutputFile | None,
    billable: int,
    tensorboard: OutputFile | None = None,
    loss_plot: OutputFile | None = None,
) -> dict[str, Any]:
    return {
        "lora_file": lora.as_json("application/octet-stream"),
        "config_file": config.as_json("application/json"),
        "video": video.as_json("video/mp4") if video else None,
        "debug_dataset": debug.as_json("application/zip") if debug else None,
        "dataset_report": report.as_json("application/json") if report else None,
        # the TensorBoard event file, tensorboard/events.out.tfevents.<job id> (train_svc/export/training_curves.py)
        "tensorboard": tensorboard.as_json("application/octet-stream") if tensorboard else None,
        "loss_plot": loss_plot.as_json("image/png") if loss_plot else None,
        "billable_units": billable,
    }
