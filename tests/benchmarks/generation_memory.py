"""Host memory of the generation pipeline: before the first generation, after one (the pipeline kept in host
memory, which is all the service did before --pipeline-idle-seconds), and after the idle release.

  python -m tests.benchmarks.generation_memory [--wide-layers 2] [--idle-seconds 1]

Prints one JSON line with three measured models and one computed:
  tiny   the ltx2.3-tiny preset (fp32 on the CPU, as the tests run it);
  wide   the tiny preset with the transformer and the text connectors at the real LTX-2.3 widths (32 heads
         of 128 video, 32 of 64 audio) but --wide-layers blocks, random weights, in bf16: a pipeline of
         a few GB, so what is parked and what the release returns stand out from the process's own memory;
         built in a child process, so its construction leaves nothing in this one;
  real   the real LTX-2.3 pipeline in bf16, not loaded: parameter counts of the committed real configs
         (train_svc/models/real_configs/ltx2.3, built on the meta device) times 2 bytes.
For each measured model: the resident set size (RSS) before the first generation (baseline), right after
it, and after the service released the idle pipeline; the pipeline's parameter and buffer bytes; and a
second cycle (load, generate, drop the references, gc) measured before and after glibc's malloc_trim, to
show what trimming the heap adds. Each model runs in a process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GIB = 1 << 30
REQUEST = {"prompt": "a red ball", "num_frames": 9, "width": 64, "height": 64, "steps": 2, "seed": 7}
WIDE_TRANSFORMER = {
    "num_attention_heads": 32,
    "attention_head_dim": 128,
    "cross_attention_dim": 4096,
    "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64,
    "audio_cross_attention_dim": 2048,
}
WIDE_CONNECTORS = {
    "video_connector_num_attention_heads": 32,
    "video_connector_attention_head_dim": 128,
    "video_hidden_dim": 4096,
    "audio_connector_num_attention_heads": 32,
    "audio_connector_attention_head_dim": 64,
    "audio_hidden_dim": 2048,
}


def build_wide(tiny: Path, out: Path, layers: int) -> None:
    """The tiny preset at the real widths (see the module's docstring), written to `out`."""
    import torch
    from diffusers import LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    from train_svc.models.real_size import directory_config

    torch.manual_seed(0)
    out.mkdir(parents=True)
    for part in tiny.iterdir():
        if part.name not in ("transformer", "connectors"):
            (out / part.name).symlink_to(part)
    transformer_config = {**directory_config(tiny, "transformer"), **WIDE_TRANSFORMER, "num_layers": layers}
    transformer: Any = LTX2VideoTransformer3DModel(**transformer_config)
    transformer.to(torch.bfloat16).save_pretrained(out / "transformer")
    connectors: Any = LTX2TextConnectors(**{**directory_config(tiny, "connectors"), **WIDE_CONNECTORS})
    connectors.to(torch.bfloat16).save_pretrained(out / "connectors")


def measure(model_path: Path, precision: str, idle_seconds: float) -> dict[str, Any]:
    """The figures of one model, in this process (see the module's docstring)."""
    from diffusers import LTX2Pipeline  # noqa: F401  (imported before the baseline: not the pipeline's memory)

    from shared.auth import Caller
    from train_svc.accelerator import AcceleratorSlots
    from train_svc.generation.generator import Generator
    from train_svc.generation.order import GenerationOrder
    from train_svc.generation.request import GenerationRequest
    from train_svc.generation.service import GenerationFinished, GenerationService
    from train_svc.models.base_model import BaseModel
    from train_svc.models.base_registry import BaseModels
    from train_svc.models.device import choose_placement
    from train_svc.models.host_memory import rss_bytes, trim_heap

    def no_jobs(name: str, caller: Caller):
        raise LookupError(name)

    from train_svc.models.versions import model_version

    base = BaseModel(model_path.name, model_path, model_version(model_path))
    placement = choose_placement("cpu", precision)
    request = GenerationRequest(**REQUEST)  # type: ignore[arg-type]
    gc.collect()
    trim_heap()
    figures: dict[str, Any] = {"precision": precision, "baseline_rss_bytes": rss_bytes()}
    with tempfile.TemporaryDirectory() as storage:
        service = GenerationService(
            Path(storage),
            BaseModels({"default": base}, "default"),
            placement,
            AcceleratorSlots(1),
            no_jobs,
            idle_seconds=idle_seconds,
        )

        async def generate() -> list:
            return [event async for event in service.generate(GenerationOrder(request), Caller("bench"))]

        try:
            started = time.perf_counter()
            if not isinstance(asyncio.run(generate())[-1], GenerationFinished):
                raise RuntimeError("the generation did not finish")
            figures["generation_seconds"] = round(time.perf_counter() - started, 2)
            figures["pipeline_parameter_bytes"] = service.pipeline_bytes()
            figures["after_generation_rss_bytes"] = rss_bytes()  # the pipeline parked: the behaviour until now
            deadline = time.monotonic() + idle_seconds + 60
            while service.pipeline_bytes() and time.monotonic() < deadline:
                time.sleep(0.05)
            if service.pipeline_bytes():
                raise RuntimeError("the pipeline was not released")
            figures["after_release_rss_bytes"] = rss_bytes()
        finally:
            service.shutdown()
    generator = Generator(base, placement)
    generator.generate(request)
    del generator
    gc.collect()
    figures["second_cycle_released_untrimmed_rss_bytes"] = rss_bytes()
    trim_heap()
    figures["second_cycle_released_trimmed_rss_bytes"] = rss_bytes()
    return figures


def real_bf16_bytes() -> dict[str, int]:
    """Bytes of the real LTX-2.3 pipeline's parameters in bf16, by component (from the committed configs)."""
    from train_svc.estimate.model_spec import ModelSpec
    from train_svc.models.real_size import COMPONENTS

    spec = ModelSpec.real()
    by_component = {component: 2 * spec.parameters(component) for component in COMPONENTS}
    return {**by_component, "total": sum(by_component.values())}


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.generation_memory", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wide-layers", type=int, default=2, help="transformer blocks of the wide model")
    parser.add_argument("--idle-seconds", type=float, default=1.0, help="the service's --pipeline-idle-seconds")
    parser.add_argument("--measure", nargs=2, metavar=("MODEL_DIR", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--build-wide", nargs=2, metavar=("TINY_DIR", "OUT_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1], args.idle_seconds)))
        return 0
    if args.build_wide:
        build_wide(Path(args.build_wide[0]), Path(args.build_wide[1]), args.wide_layers)
        print("{}")
        return 0
    from train_svc.models.base_model import resolve_base_model
    from train_svc.models.tiny_preset import PRESET_NAME

    tiny = resolve_base_model(PRESET_NAME).path
    idle = ["--idle-seconds", str(args.idle_seconds)]
    result: dict[str, Any] = {"tiny": _child(["--measure", str(tiny), "fp32", *idle])}
    with tempfile.TemporaryDirectory() as scratch:
        wide = Path(scratch) / f"ltx2.3-wide-{args.wide_layers}"
        _child(["--build-wide", str(tiny), str(wide), "--wide-layers", str(args.wide_layers)])
        result["wide"] = {"layers": args.wide_layers, **_child(["--measure", str(wide), "bf16", *idle])}
    result["real_bf16_parameter_bytes"] = real_bf16_bytes()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
