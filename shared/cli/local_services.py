"""Both services started in this process on free loopback ports, talking to each other over gRPC.

Zero-config: no authentication (loopback only: the one principal `local`), and the only local folders
an archive may be read from are the ones the caller names (the CLI passes its archive's folder).
"""

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
    allow_local_roots: tuple[Path, ...] = (),
) -> AsyncIterator[LocalServices]:
    """Both services on `storage`, or the preprocessor on its own `preprocess_storage` (then bundles
    must come by value: bundle_delivery="value"). `extra_lora_dirs`: folders besides storage whose LoRA
    files GenerateVideo may read (the caller's own files, in-process). `allow_local_roots`: folders whose
    archives training_data_url may name."""
    from preprocess_svc.config import PreprocessServiceConfig
    from preprocess_svc.server import serve as serve_preprocess
    from shared.fetch_policy import FetchPolicy
    from train_svc.config import TrainServiceConfig
    from train_svc.server import serve as serve_training

    storage.mkdir(parents=True, exist_ok=True)
    preprocess_root = preprocess_storage or storage
    preprocess = await serve_preprocess(
        PreprocessServiceConfig(
            storage=preprocess_root,
            port=0,
            fetch=FetchPolicy(allow_local_roots=allow_local_roots, storage_root=preprocess_root),
        )
    )
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
                fetch=FetchPolicy(allow_local_roots=allow_local_roots, storage_root=storage),
            )
        )
        try:
            yield LocalServices(f"127.0.0.1:{training.port}", preprocess_target)
        finally:
            await training.stop(grace=1.0)
    finally:
        await preprocess.stop(grace=1.0)
