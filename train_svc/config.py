"""train_svc settings: flags with environment-variable defaults, one typed object."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shared.auth import AuthSettings
from shared.auth.settings import add_auth_arguments, auth_settings_from_args
from shared.fetch_flags import add_fetch_arguments, fetch_policy_from_args
from shared.fetch_policy import FetchPolicy
from shared.ready_file import add_ready_file_argument
from shared.storage_flags import add_storage_arguments, optional_int, storage_problem
from train_svc.generation.request import STEPS_MAX, STEPS_MIN
from train_svc.jobs.quotas import Quotas
from train_svc.models.base_model import default_base_model


@dataclass(frozen=True)
class TrainServiceConfig:
    storage: Path
    preprocess_target: str
    base_model: str
    port: int = 50052
    host: str = "127.0.0.1"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    lora_feed_forward: bool = False  # adapt the feed-forward layers too (off in the official recipe)
    seed: int = 42
    concurrent_jobs: int = 1  # jobs running at once: one per accelerator
    # torch's intra-op CPU threads. 1 by default: the accelerator does the heavy work, and on a small CPU
    # box that also decodes video, OpenMP threads spinning against busy cores slow every op down by
    # orders of magnitude (measured: 43 ms vs 3.3 s per tiny-model step with 1 vs 2 threads on 2 cores).
    cpu_threads: int = 1
    # SIGTERM: running jobs stop at their next step boundary and checkpoint, then the server stops; all
    # within this many seconds (keep the pod's terminationGracePeriodSeconds above it).
    grace_seconds: float = 25.0
    checkpoint_every: int = 100  # training steps between checkpoints (also written after the last step)
    checkpoint_keep: int = 2  # newest checkpoints kept per job
    heartbeat_seconds: float = 10.0  # an idle WatchTrainingJob stream gets a heartbeat this often
    # A watcher whose stream accepts nothing for this long is cut off (RESOURCE_EXHAUSTED, WATCHER_TOO_SLOW).
    watch_write_timeout_seconds: float = 30.0
    # "reference": bundles are read where the preprocessor wrote them (storage shared by both services).
    # "value": their bytes come in the Preprocess stream and are written to this service's storage.
    bundle_delivery: Literal["reference", "value"] = "reference"
    # Denoising steps of each validation preview (single-stage, full guidance). 30 is the generation
    # default: previews then look like what the LoRA will give; fewer make them cheaper and rougher.
    preview_steps: int = 30
    # GenerateVideo also reads LoRA files under these folders (the in-process CLI adds the folder of the
    # --lora it was given, for its one principal; a remote caller only ever names files of its own).
    extra_lora_dirs: tuple[Path, ...] = ()
    auth: AuthSettings = AuthSettings()  # who may call, over what transport
    # How this service reaches the preprocessor: a token file (re-read for every call) and, for TLS, the
    # CA that signed the preprocessor's certificate (the client certificate is this service's own
    # --tls-cert/--tls-key, as a mesh identity is).
    preprocess_token_file: Path | None = None
    preprocess_ca_cert: Path | None = None
    # What training_data_url may name (checked at CreateTrainingJob; the preprocessor checks again).
    fetch: FetchPolicy = FetchPolicy()
    quotas: Quotas = Quotas()
    min_free_bytes: int = 0  # a large write that would leave less free on the storage volume fails STORAGE_FULL
    ready_file: Path | None = None  # once serving, the bound ports are written here (shared.ready_file)


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m train_svc", description="LTX-2.3 LoRA training service (gRPC)")
    p.add_argument("--port", type=int, default=int(env("TRAIN_SVC_PORT", "50052")))
    p.add_argument("--host", default=env("TRAIN_SVC_HOST", "127.0.0.1"), help="address to listen on")
    add_ready_file_argument(p)
    p.add_argument("--storage", type=Path, default=env("LTX_STORAGE"), required=not env("LTX_STORAGE"))
    p.add_argument(
        "--preprocess-target",
        default=env("LTX_PREPROCESS_TARGET"),
        required=not env("LTX_PREPROCESS_TARGET"),
        help="HOST:PORT of PreprocessService",
    )
    p.add_argument("--base-model", default=default_base_model(), help="diffusers LTX-2.3 dir, hub id or ltx2.3-tiny")
    p.add_argument("--device", default=env("LTX_DEVICE", "auto"))
    p.add_argument("--precision", default=env("LTX_PRECISION", "auto"), choices=["auto", "bf16", "fp32"])
    p.add_argument(
        "--lora-targets",
        choices=["attention", "attention+ff"],
        default=env("LTX_LORA_TARGETS", "attention"),
        help="layers the LoRA adapts (attention = the official recipe)",
    )
    p.add_argument("--seed", type=int, default=int(env("LTX_SEED", "42")))
    p.add_argument("--concurrent-jobs", type=int, default=int(env("LTX_CONCURRENT_JOBS", "1")))
    p.add_argument("--cpu-threads", type=int, default=int(env("LTX_CPU_THREADS", "1")), help="torch CPU threads")
    p.add_argument(
        "--bundle-delivery",
        choices=["reference", "value"],
        default=env("LTX_BUNDLE_DELIVERY", "reference"),
        help="reference: storage shared with the preprocessor; value: bundle bytes come over gRPC",
    )
    p.add_argument(
        "--preview-steps",
        type=int,
        default=int(env("LTX_PREVIEW_STEPS", "30")),
        help=f"denoising steps of each validation preview ({STEPS_MIN}-{STEPS_MAX})",
    )
    p.add_argument(
        "--grace-seconds",
        type=float,
        default=float(env("LTX_GRACE_SECONDS", "25")),
        help="on SIGTERM: seconds for running jobs to checkpoint and the server to stop",
    )
    p.add_argument("--checkpoint-every", type=int, default=int(env("LTX_CHECKPOINT_EVERY", "100")), help="steps")
    p.add_argument("--checkpoint-keep", type=int, default=int(env("LTX_CHECKPOINT_KEEP", "2")))
    p.add_argument("--heartbeat-seconds", type=float, default=float(env("LTX_HEARTBEAT_SECONDS", "10")))
    p.add_argument(
        "--watch-write-timeout",
        type=float,
        default=float(env("LTX_WATCH_WRITE_TIMEOUT", "30")),
        help="seconds a watcher may take to accept an event before it is cut off",
    )
    p.add_argument(
        "--extra-lora-dir",
        action="append",
        type=Path,
        default=[],
        help="a folder whose LoRA files admins may name in GenerateVideo, besides job outputs (repeatable)",
    )
    add_auth_arguments(p)
    p.add_argument(
        "--preprocess-token-file",
        default=env("LTX_PREPROCESS_TOKEN_FILE"),
        help="token this service presents to the preprocessor (re-read for every call)",
    )
    p.add_argument(
        "--preprocess-ca-cert",
        default=env("LTX_PREPROCESS_CA_CERT"),
        help="CA of the preprocessor's certificate: talk to it over TLS (client certificate: --tls-cert/--tls-key)",
    )
    add_fetch_arguments(p)
    add_quota_arguments(p)
    return p


def add_quota_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    group = p.add_argument_group("quotas (per principal; unlimited by default)")
    group.add_argument("--quota-running-jobs", type=int, default=optional_int(env("LTX_QUOTA_RUNNING_JOBS")))
    group.add_argument("--quota-queued-jobs", type=int, default=optional_int(env("LTX_QUOTA_QUEUED_JOBS")))
    add_storage_arguments(p, "what a principal's jobs, uploads, generations and cache entries may occupy")


def from_args(argv: list[str] | None = None) -> TrainServiceConfig:
    p = parser()
    a = p.parse_args(argv)
    if not STEPS_MIN <= a.preview_steps <= STEPS_MAX:
        p.error(f"--preview-steps must be between {STEPS_MIN} and {STEPS_MAX} (got {a.preview_steps})")
    for flag, value in (("--checkpoint-every", a.checkpoint_every), ("--checkpoint-keep", a.checkpoint_keep)):
        if value < 1:
            p.error(f"{flag} must be at least 1 (got {value})")
    if a.quota_running_jobs is not None and a.quota_running_jobs < 1:
        p.error(f"--quota-running-jobs must be at least 1 (got {a.quota_running_jobs})")
    if a.quota_queued_jobs is not None and a.quota_queued_jobs < 0:
        p.error(f"--quota-queued-jobs must be >= 0 (got {a.quota_queued_jobs})")
    if problem := storage_problem(a):
        p.error(problem)
    try:
        fetch = fetch_policy_from_args(a, Path(a.storage))
    except ValueError as exc:
        p.error(str(exc))
    for flag, value in (
        ("--grace-seconds", a.grace_seconds),
        ("--heartbeat-seconds", a.heartbeat_seconds),
        ("--watch-write-timeout", a.watch_write_timeout),
    ):
        if value <= 0:
            p.error(f"{flag} must be positive (got {value})")
    return TrainServiceConfig(
        storage=Path(a.storage),
        preprocess_target=a.preprocess_target,
        base_model=a.base_model,
        port=a.port,
        host=a.host,
        device=a.device,
        precision=a.precision,
        lora_feed_forward=a.lora_targets == "attention+ff",
        seed=a.seed,
        concurrent_jobs=a.concurrent_jobs,
        cpu_threads=a.cpu_threads,
        bundle_delivery=a.bundle_delivery,
        preview_steps=a.preview_steps,
        extra_lora_dirs=tuple(a.extra_lora_dir),
        grace_seconds=a.grace_seconds,
        checkpoint_every=a.checkpoint_every,
        checkpoint_keep=a.checkpoint_keep,
        heartbeat_seconds=a.heartbeat_seconds,
        watch_write_timeout_seconds=a.watch_write_timeout,
        auth=auth_settings_from_args(a),
        preprocess_token_file=Path(a.preprocess_token_file) if a.preprocess_token_file else None,
        preprocess_ca_cert=Path(a.preprocess_ca_cert) if a.preprocess_ca_cert else None,
        fetch=fetch,
        quotas=Quotas(a.quota_running_jobs, a.quota_queued_jobs, a.quota_storage_bytes),
        min_free_bytes=a.min_free_bytes,
        ready_file=a.ready_file,
    )
