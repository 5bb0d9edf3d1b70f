"""The estimator against the memory figures other LTX-2 trainers publish (not a CI gate).

  python -m tests.benchmarks.peer_figures

For each published figure: the estimate of our trainer's training peak for the same bucket, rank, base
weights, offload and batch, over the published figure; then the same with the text connectors resident
(3.17 B parameters, 6.3 GB in bf16), as those trainers keep them on the GPU and this service does not
(it caches the connectors' outputs). Published figures are what a GPU monitor showed (the allocator's
reserve included) or a stated requirement; the peers' optimizers and LoRA variants differ from ours
(AdamW with float32 state), and SimpleTuner's figures are for LTX-2 (19 B), the others' for LTX-2.3. Where
a setup leaves a value unsaid, the value used is marked "assumed".
"""

from __future__ import annotations

from dataclasses import dataclass

from train_svc.estimate.estimator import Estimator
from train_svc.estimate.gpus import GPUS
from train_svc.estimate.job_shape import JobShape, MemoryPlan
from train_svc.estimate.model_spec import ModelSpec

GB = 1e9


@dataclass(frozen=True)
class PeerFigure:
    source: str
    setup: str
    published_gb: float
    shape: JobShape
    plan: MemoryPlan
    gpu: str


def _shape(width: int, height: int, frames: int, audio: bool, rank: int, batch: int = 1) -> JobShape:
    return JobShape(width, height, frames, 24.0, audio, rank, 2000, batch, False, 0, (width, height, frames), 30, 2000)


FIGURES = (
    PeerFigure(
        "SimpleTuner documentation/quickstart/LTXVIDEO2.md, 'Observed performance and memory'",
        "480p (480x480 pixel area), 17 frames, batch 2, bf16 base, no offload, cached text embeds; rank 16 assumed",
        48.0,
        _shape(480, 480, 17, False, 16, batch=2),
        MemoryPlan("bf16", "bf16"),
        "a100-80gb",
    ),
    PeerFigure(
        "SimpleTuner documentation/quickstart/LTXVIDEO2.md, 'Observed performance and memory'",
        "480p (480x480 pixel area), 17 frames, batch 2, int8 torchao base, no offload; rank 16 assumed",
        29.5,
        _shape(480, 480, 17, False, 16, batch=2),
        MemoryPlan("int8", "bf16"),
        "a100-80gb",
    ),
    PeerFigure(
        "ostris/ai-toolkit PR #813 (measurements from issue #758), RTX 5090",
        "384x672, audio+video, rank 32, fp8 base, 25% of the blocks offloaded; 49 frames assumed",
        31.0,
        _shape(672, 384, 49, True, 32),
        MemoryPlan("fp8", "bf16", True, 12),
        "rtx5090",
    ),
    PeerFigure(
        "ostris/ai-toolkit PR #813 (measurements from issue #758), RTX 5090",
        "384x672, audio+video, rank 32, fp8 base, 50% of the blocks offloaded; 49 frames assumed",
        26.7,
        _shape(672, 384, 49, True, 32),
        MemoryPlan("fp8", "bf16", True, 24),
        "rtx5090",
    ),
    PeerFigure(
        "Lightricks/LTX-2 issue #180 (LTX-2.3, RTX 5090, low-VRAM config)",
        "images (1 frame), no audio, rank 32, int8 base, checkpointing on; 960x544 assumed",
        31.0,
        _shape(960, 544, 1, False, 32),
        MemoryPlan("int8", "bf16"),
        "rtx5090",
    ),
)


def main() -> None:
    estimator = Estimator(ModelSpec.real())
    connectors = ModelSpec.real().parameters("connectors") * 2
    print(f"{'published':>9} {'ours':>6} {'ratio':>6} {'ours+conn':>9} {'ratio':>6}  setup (source)")
    for figure in FIGURES:
        ours = estimator.estimate(figure.shape, figure.plan, GPUS[figure.gpu], suggest=False).training_peak_bytes / GB
        with_connectors = ours + connectors / GB
        ratio, ratio_connectors = ours / figure.published_gb, with_connectors / figure.published_gb
        figures = f"{figure.published_gb:>8.1f}G {ours:>5.1f}G {ratio:>6.2f} {with_connectors:>8.1f}G"
        print(f"{figures} {ratio_connectors:>6.2f}  {figure.setup} ({figure.source})")


if __name__ == "__main__":
    main()
