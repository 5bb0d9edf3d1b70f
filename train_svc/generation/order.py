"""What GenerateVideo runs: checked generation settings, where the LoRA comes from and the base to use.

Made from a request by train_svc.api.generation_order; run by train_svc.generation.service.
"""

from __future__ import annotations

from dataclasses import dataclass

from train_svc.generation.request import GenerationRequest


@dataclass(frozen=True)
class GenerationOrder:
    request: GenerationRequest  # lora_path set for a lora_file; a job's LoRA is found when the order runs
    job: str | None = None  # "trainingJobs/{id}" whose LoRA to apply
    base_model: str = ""  # the base's id; "": the job's base (with `job`), else the service's default
