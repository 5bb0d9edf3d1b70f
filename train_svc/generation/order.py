"""What GenerateVideo runs: checked generation settings and where the LoRA comes from.

Made from a request by train_svc.api.generation_order; run by train_svc.generation.service.
"""

from __future__ import annotations

from dataclasses import dataclass

from train_svc.generation.request import GenerationRequest


@dataclass(frozen=True)
class GenerationOrder:
    request: GenerationRequest  # lora_path set for a lora_file; a job's LoRA is found when the order runs
    job: str | None = None  # "trainingJobs/{id}" whose LoRA to apply
