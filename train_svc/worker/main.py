"""One rank of a job's training: read the job's run files, join the process group, train, report.

Runs under any torch.distributed launcher (torchrun on one machine or several, a Kubeflow TrainJob,
Slurm), which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. NCCL on CUDA (each rank
on cuda:LOCAL_RANK), gloo on the CPU. Rank 0 opens the control stream to the service (the attempt's
token comes in LTX_WORKER_TOKEN, or from the job's run folder when the service did not launch the
workers; TLS when --control-ca is given) and every rank waits until the service has admitted it. Rank 0
then sends every event and, at the end, how training finished; it alone writes checkpoints and
previews. Exit status: 0 when training ended normally (all steps, or a stop), 1 when it failed (rank 0
has reported a failure it knows, see job_run.failures; any other leaves the service to retry the
attempt), 2 when the settings or run files cannot be used or the service refused the workers.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

import grpc
import structlog
import torch
import torch.distributed as dist

from shared.api import worker_control_pb2 as wc
from shared.logs import configure_logging, log_level_from_env
from shared.parent_death import terminate_with_parent
from shared.settings import load_settings
from train_svc.distributed.attempts import TOKEN_ENV
from train_svc.distributed.run_files import WorkerRun, read_run, read_token
from train_svc.job_run.failures import training_error
from train_svc.job_run.fence import check_fence
from train_svc.job_run.training_phase import train_phase
from train_svc.models.device import Placement, choose_placement
from train_svc.training.checkpoint import checkpoint_path, read_checkpoint
from train_svc.training.ranks import Ranks
from train_svc.worker.control_client import ControlRefused, ControlStream
from train_svc.worker.samples import CachedSamples
from train_svc.worker.settings import DESCRIPTION, SERVICE_ENV, WorkerSettings

log = structlog.get_logger(__name__)

# A rank waits this long in a collective for the others (rank 0 renders previews between steps).
COLLECTIVE_TIMEOUT = timedelta(minutes=30)
ADMIT_TIMEOUT_S = 120.0  # for the service to answer rank 0's hello (it may still be starting)


def _placement(run: WorkerRun) -> Placement:
    device = run.device
    if device in ("auto", "cuda") and torch.cuda.is_available():
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    elif device == "auto":
        device = "cpu"
    return choose_placement(device, run.precision, run.base_weights, run.offload_blocks)


def _connect(settings: WorkerSettings, run: WorkerRun, world_size: int) -> ControlStream:
    """Rank 0's control stream, once the service has admitted it (ControlRefused otherwise)."""
    try:
        token = os.environ.get(TOKEN_ENV) or read_token(settings.job_dir)
    except OSError as exc:
        raise ControlRefused(f"no token in {TOKEN_ENV} and none readable in the job's run folder: {exc}") from exc
    try:
        credentials = (
            grpc.ssl_channel_credentials(settings.control_ca.read_bytes()) if settings.control_ca is not None else None
        )
    except OSError as exc:
        raise ControlRefused(f"--control-ca {settings.control_ca} cannot be read: {exc}") from exc
    hello = wc.WorkerHello(job_id=run.phase.job_id, attempt=run.attempt, world_size=world_size)
    control = ControlStream(settings.control, token, hello, credentials)
    control.wait_admitted(ADMIT_TIMEOUT_S)
    return control


def _train(settings: WorkerSettings, run: WorkerRun, prompts, ranks: Ranks, placement: Placement) -> int:
    control, refusal = None, ""
    if ranks.is_main:
        try:
            control = _connect(settings, run, ranks.world_size)
        except ControlRefused as exc:
            refusal = str(exc)
    if ranks.any(bool(refusal)):  # every rank leaves before it touches the job's files
        log.error("the service did not admit these workers", rank=ranks.rank, reason=refusal or "(see rank 0)")
        return 2
    steps = run.resume_step
    try:
        phase = run.phase
        samples = CachedSamples(run.sample_files, audio=phase.config.audio)
        resume = read_checkpoint(checkpoint_path(phase.checkpoint_dir, run.resume_step)) if run.resume_step else None
        _, steps = train_phase(
            phase,
            placement,
            samples,
            prompts,
            resume,
            record=control.record if control is not None else lambda event: None,
            should_stop=(lambda: control.stop_requested) if control is not None else lambda: False,
            ranks=ranks,
            fence=lambda: check_fence(settings.job_dir, run.fence) if run.fence else None,
        )
    except Exception as exc:
        error = training_error(exc)
        log.error("training failed", rank=ranks.rank, known=error is not None, exc_info=exc)
        if control is not None and error is not None:
            control.finish(steps, error)
        return 1
    if control is not None:
        control.finish(steps)
    log.info("training finished", rank=ranks.rank, steps=steps)
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_logging(json=True, level=log_level_from_env("INFO"))
    terminate_with_parent()  # the launcher's agent is the parent: its death ends this rank
    settings = load_settings(
        WorkerSettings, argv, service=SERVICE_ENV, prog="python -m train_svc.worker", description=DESCRIPTION
    )
    try:
        run, prompts = read_run(settings.job_dir)
        placement = _placement(run)
    except (OSError, ValueError, KeyError) as exc:
        print(f"train_svc.worker: cannot use {settings.job_dir}: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if placement.device.type == "cuda":
        torch.cuda.set_device(placement.device)
    dist.init_process_group("nccl" if placement.device.type == "cuda" else "gloo", timeout=COLLECTIVE_TIMEOUT)
    ranks = Ranks.of_process_group(placement.device)
    structlog.contextvars.bind_contextvars(job=run.phase.job_id, rank=ranks.rank, attempt=run.attempt)
    log.info("worker started", world_size=ranks.world_size, device=str(placement.device), pid=os.getpid())
    try:
        return _train(settings, run, prompts, ranks, placement)
    finally:
        dist.destroy_process_group()
