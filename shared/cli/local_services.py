"""Both services started in this process on free loopback ports, talking to each other over gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalServices:
    training_target: str
    preprocess_target: str


@asynccontextmanager
async def local_services(
    storage: Path,
    base_model: str,
    *,
    lora_feed_forward: bool = False,
    preprocess_storage: Path | None = None,
    bundle_delivery: str = "reference",
    device: str = "auto",
    precision: str = "auto",
    cpu_threads: int = 1,
    extra_lora_dirs: tuple[Path, ...] = (),
    preview_steps: int = 30,
) -> AsyncIterator[LocalServices]:
    """Both services on `storage`, or the preprocessor on its own `preprocess_storage` (then bundles
    must come by value: bundle_delivery="value"). `extra_lora_dirs`: folders besides storage whose LoRA
    files GenerateVideo may read (the caller's own files, in-process)."""
    from preprocess_svc.config import PreprocessServiceConfig
    from preprocess_svc.server import serve as serve_preprocess
    from train_svc.config import TrainServiceConfig
    from train_svc.server import serve as serve_training

    storage.mkdir(parents=True, exist_ok=True)
    preprocess = await serve_preprocess(PreprocessServiceConfig(storage=preprocess_storage or storage, port=0))
    preprocess_target = f"127.0.0.1:{preprocess.port}"
    try:
        training = await serve_training(
            TrainServiceConfig(
                storage=storage,
                preprocess_target=preprocess_target,
                base_model=base_model,
                port=0,
                lora_feed_forward=lora_feed_forward,
                bundle_delivery=bundle_delivery,
                device=device,
                precision=precision,
                cpu_threads=cpu_threads,
                extra_lora_dirs=extra_lora_dirs,
                preview_steps=preview_steps,
            )
        )
        try:
            yield LocalServices(f"127.0.0.1:{training.port}", preprocess_target)
        finally:
            await training.stop(grace=1.0)
    finally:
        await preprocess.stop(grace=1.0)
