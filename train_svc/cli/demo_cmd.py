"""`ltx-trainer demo`: a small clip dataset made with ffmpeg, trained on the tiny preset end to end."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from shared.demo_dataset import make_demo_dataset

DEMO_REQUEST = {
    "trigger_phrase": "ltxdemo",
    "rank": 16,
    "learning_rate": 0.0002,
    "number_of_frames": 25,
    "frame_rate": 24,
    "resolution": "low",
    "aspect_ratio": "16:9",
}


async def run_demo(work_dir: Path, steps: int) -> int:
    from train_svc.cli.local_services import local_services
    from train_svc.cli.progress import ProgressDisplay
    from train_svc.cli.train_cmd import submit_and_follow
    from train_svc.models.tiny_preset import PRESET_NAME

    started = time.perf_counter()
    work_dir.mkdir(parents=True, exist_ok=True)
    archive = make_demo_dataset(work_dir / "dataset.zip")
    request = {"training_data_url": str(archive.resolve()), "number_of_steps": steps, **DEMO_REQUEST}
    (work_dir / "request.json").write_text(json.dumps(request, indent=2) + "\n")
    print(f"demo dataset: {archive}  request: {work_dir / 'request.json'}", file=sys.stderr)
    async with local_services(work_dir / "storage", PRESET_NAME, allow_local_roots=(archive.parent,)) as services:
        code = await submit_and_follow(services.training_target, request, work_dir / "outputs", ProgressDisplay())
    print(f"demo finished in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return code
