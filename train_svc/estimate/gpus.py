"""The GPUs an estimate can be made for, with the figures it uses.

memory: the total the driver reports (nvidia-smi's MiB), of which the CUDA context takes its share (the
estimate's workspace part). flops: dense bf16 tensor-core peak with float32 accumulation, from NVIDIA's
data sheets (no sparsity). host link: what a pinned host-to-device copy reaches on the card's PCIe
generation (about 80% of x16's nominal rate), which block offload streams over.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20
TFLOPS = 1e12
# The fraction of the peak rate a LoRA step of this model reaches in bf16: the step is dominated by large
# matrix products (tokens x 4096 x 4096 and wider) and flash attention, for which 40% of peak is what
# well-tuned eager PyTorch reaches on these cards. Not measured here (no GPU): tests/benchmarks/gpu_step.py
# prints the measured utilisation beside this assumption on the day one is lent.
MATMUL_EFFICIENCY = 0.40
# Weight-only int8/fp8 weights are turned back into bf16 before each product (torchao's weight-only path):
# that costs about a quarter of the step on top (assumed, as above).
QUANTIZED_EFFICIENCY = 0.75


@dataclass(frozen=True)
class Gpu:
    name: str  # the CLI's and the API's spelling
    label: str
    memory_bytes: int
    bf16_flops: float  # per second, dense
    host_link_bytes_per_second: float
    fp8_weights: bool  # compute capability 8.9 or newer

    def seconds(self, flops: float, *, quantized: bool) -> float:
        rate = self.bf16_flops * MATMUL_EFFICIENCY * (QUANTIZED_EFFICIENCY if quantized else 1.0)
        return flops / rate


GPUS: dict[str, Gpu] = {
    gpu.name: gpu
    for gpu in (
        Gpu("h100", "NVIDIA H100 80GB (SXM)", 81_559 * MIB, 989.4 * TFLOPS, 50e9, True),
        Gpu("h200", "NVIDIA H200 141GB (SXM)", 143_771 * MIB, 989.4 * TFLOPS, 50e9, True),
        Gpu("a100-80gb", "NVIDIA A100 80GB (SXM)", 81_920 * MIB, 312.0 * TFLOPS, 25e9, False),
        Gpu("l40s", "NVIDIA L40S 48GB", 46_068 * MIB, 362.1 * TFLOPS, 25e9, True),
        Gpu("rtx4090", "NVIDIA GeForce RTX 4090 24GB", 24_564 * MIB, 165.2 * TFLOPS, 25e9, True),
        Gpu("rtx5090", "NVIDIA GeForce RTX 5090 32GB", 32_607 * MIB, 209.5 * TFLOPS, 50e9, True),
    )
}


def gpu_named(name: str) -> Gpu:
    try:
        return GPUS[name]
    except KeyError:
        raise ValueError(f"unknown GPU {name!r}; known: {', '.join(GPUS)}") from None
