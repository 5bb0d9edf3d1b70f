"""`ltx-trainer generate`: one video with sound through TrainingService.GenerateVideo, saved as an mp4.

Without --target the services start in this process (as `train` does) with --device/--precision/
--cpu-threads, and --lora is any local file. With --target the LoRA must already be on the service's
storage, or --job names a finished training job whose LoRA to use, and --base-id may name one of the bases
the service hosts. A LoRA made for another LTX version than the base's is refused unless
--allow-version-mismatch; then the modules that fit are applied and the others listed. The mp4 is copied
from storage shared with the service, or downloaded with DownloadArtifact; either way its sha256 is checked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from shared.request import defaults
from shared.request.defaults import AspectRatio, Resolution
from train_svc.cli.credentials import add_credential_arguments, credentials_from_args
from train_svc.cli.exit_codes import ExitCode, exit_code


def add_generate_parser(sub: argparse._SubParsersAction) -> None:
    from train_svc.generation.request import (
        AUDIO_GUIDANCE_SCALE,
        DEFAULT_NEGATIVE_PROMPT,
        GUIDANCE_SCALE,
        GenerationRequest,
    )

    p = sub.add_parser("generate", help="generate a video with sound (mp4), optionally through a trained LoRA")
    p.add_argument("--base-model", help="diffusers LTX-2.3 dir, hub id, or ltx2.3-tiny (default: LTX_BASE_MODEL)")
    p.add_argument("--target", help="HOST:PORT of a running TrainingService; default: start the services here")
    p.add_argument("--storage", type=Path, help="storage root of the in-process services")
    lora = p.add_mutually_exclusive_group()
    lora.add_argument("--lora", type=Path, help="LoRA file (with --target: a path on the service's storage)")
    lora.add_argument("--job", help="trainingJobs/ID: use that finished job's LoRA")
    p.add_argument("--lora-scale", type=float, default=1.0, help="strength of the LoRA; 0 gives the base model")
    p.add_argument(
        "--base-id",
        default="",
        help="with --target: the id of a base the service hosts (`ltx-trainer bases`); default: the job's, "
        "else the service's default",
    )
    p.add_argument(
        "--allow-version-mismatch",
        action="store_true",
        help="apply a LoRA made for another LTX version than the base's: the modules that fit, the others listed",
    )
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt", default=DEFAULT_NEGATIVE_PROMPT, help="default: a built-in quality prompt")
    p.add_argument("--out", type=Path, required=True, help="FILE.mp4 to write")
    p.add_argument("--seed", type=int, default=GenerationRequest.seed)
    p.add_argument("--num-frames", type=int, default=defaults.NUMBER_OF_FRAMES, help="9..257, snapped down to 8k+1")
    p.add_argument("--frame-rate", type=int, default=defaults.FRAME_RATE)
    p.add_argument("--resolution", choices=[r.value for r in Resolution], default=Resolution.MEDIUM.value)
    p.add_argument("--aspect-ratio", choices=[a.value for a in AspectRatio], default=AspectRatio.SQUARE_1_1.value)
    p.add_argument("--steps", type=int, default=GenerationRequest.steps)
    p.add_argument("--guidance", type=float, default=GUIDANCE_SCALE, help="video CFG scale; 1 turns it off")
    p.add_argument("--audio-guidance", type=float, default=AUDIO_GUIDANCE_SCALE, help="audio CFG scale; 1 = off")
    p.add_argument("--stg-scale", type=float, default=defaults.STG_SCALE, help="spatio-temporal guidance; 0 = off")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (in-process only)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"], help="in-process only")
    p.add_argument(
        "--cpu-threads",
        type=int,
        default=int(os.environ.get("LTX_CPU_THREADS") or "1"),
        help="torch CPU threads, as for the service (LTX_CPU_THREADS, 1; without --target only)",
    )
    add_credential_arguments(p)


def _error(message: str, code: ExitCode = ExitCode.REFUSED) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _request(args: argparse.Namespace, lora_file: str | None):
    from shared.api import generation_pb2 as gen_pb
    from shared.request.validate import ASPECT_RATIOS, RESOLUTIONS

    resolution = next(n for n, r in RESOLUTIONS.items() if r.value == args.resolution)
    aspect_ratio = next(n for n, a in ASPECT_RATIOS.items() if a.value == args.aspect_ratio)
    request = gen_pb.GenerateVideoRequest(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        job=args.job,
        lora_scale=args.lora_scale,
        number_of_frames=args.num_frames,
        frame_rate=args.frame_rate,
        resolution=resolution,
        aspect_ratio=aspect_ratio,
        steps=args.steps,
        guidance_scale=args.guidance,
        audio_guidance_scale=args.audio_guidance,
        stg_scale=args.stg_scale,
        seed=args.seed,
        base_model=args.base_id,
        allow_version_mismatch=args.allow_version_mismatch,
    )
    if lora_file is not None:  # set last, as the constructor did: it wins the `lora` oneof over `job`
        request.lora_file = lora_file
    return request


def run_generate(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() != ".mp4":
        return _error(f"--out must name an .mp4 file (got {args.out})")
    if args.target is None and args.lora is not None and not args.lora.is_file():
        return _error(f"LoRA file {args.lora} does not exist")
    if args.target is None:
        return asyncio.run(_in_process(args))
    if args.base_model:
        print("note: --base-model is the server's setting; ignored with --target", file=sys.stderr)
    request = _request(args, str(args.lora) if args.lora else None)
    return asyncio.run(_generate(args.target, request, args, credentials_from_args(args)))


async def _in_process(args: argparse.Namespace) -> int:
    from shared.ready_file import ServiceDidNotStart
    from train_svc.cli.local_services import default_storage, local_services
    from train_svc.models.base_model import default_base_model

    lora = args.lora.resolve() if args.lora else None
    try:
        async with local_services(
            args.storage or default_storage(),
            args.base_model or default_base_model(),
            device=args.device,
            precision=args.precision,
            cpu_threads=args.cpu_threads,
            extra_lora_dirs=(lora.parent,) if lora else (),
        ) as services:
            return await _generate(services.training_target, _request(args, str(lora) if lora else None), args)
    except ServiceDidNotStart as exc:  # a missing model, a bad --device: the training service would not start
        return _error(str(exc))


async def _generate(target: str, request, args: argparse.Namespace, credentials=None) -> int:
    import grpc

    from shared.api import generation_pb2 as gen_pb
    from shared.api import training_service_pb2_grpc as pb_grpc
    from shared.grpc_util.channels import aio_channel
    from shared.grpc_util.errors import describe_rpc_error
    from train_svc.cli.download import DownloadError, fetch

    started = time.perf_counter()
    sampling = _Sampling()
    result = None
    async with aio_channel(target, credentials) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        try:
            try:
                async for event in stub.GenerateVideo(request):
                    if event.HasField("result"):
                        result = event.result
                    elif event.HasField("progress"):
                        progress = event.progress
                        if progress.stage == gen_pb.GENERATION_STAGE_SAMPLING:
                            sampling.step(progress.step, progress.total_steps)
                        elif progress.stage in gen_pb.GenerationStage.values():
                            sampling.finish()
                            stage = gen_pb.GenerationStage.Name(progress.stage)
                            sampling.line(_STAGES.get(stage, stage))
            finally:
                sampling.finish()  # the bar ends before anything else is printed
            if result is None:
                return _error("the service ended the generation without a result", ExitCode.FAILED)
            await fetch(stub, result.name, result.video, args.out, field="video")
        except grpc.aio.AioRpcError as err:
            return _rpc_error(err, args, describe_rpc_error(err))
        except (DownloadError, OSError) as exc:
            return _error(f"could not write {args.out}: {exc}", ExitCode.FAILED)
    print(
        f"wrote {args.out} ({result.video.size_bytes / 1e6:.2f} MB, sha256 {result.video.sha256[:12]}...) "
        f"from {result.name}, seed {result.seed}, base {result.base_model} (LTX-{result.ltx_version}), "
        f"{time.perf_counter() - started:.1f} s"
    )
    if result.HasField("lora_fit"):
        fit = result.lora_fit
        print(
            f"the LoRA was made for LTX-{fit.lora_version or '?'}: {fit.loaded_modules} modules applied, "
            f"{len(fit.skipped_modules)} skipped"
        )
        for line in fit.skipped_modules:
            print(f"  skipped {line}")
    return 0


_STAGES = {
    "GENERATION_STAGE_QUEUED": "queued: waiting for the accelerator",
    "GENERATION_STAGE_LOADING": "loading the model and the LoRA",
    "GENERATION_STAGE_ENCODING": "encoding the mp4",
}


class _Sampling:
    """The sampling steps as a bar on a terminal (plain lines at a bounded rate elsewhere), with the time per
    step and what is left of it measured here (train_svc.cli.progress)."""

    def __init__(self) -> None:
        from train_svc.cli.progress import Ticker, stderr_console

        self._ticker = Ticker(stderr_console())
        self._started: float | None = None

    def step(self, step: int, total: int) -> None:
        from train_svc.cli.progress import format_duration

        self._started = self._started or time.perf_counter()
        per_step = (time.perf_counter() - self._started) / max(step, 1)
        left = format_duration(per_step * (total - step))
        self._ticker.update(step, total, f"step {step}/{total}", f"({per_step:.2f} s/step, ETA {left})")

    def line(self, text: str) -> None:
        self._ticker.line(text)

    def finish(self) -> None:
        self._ticker.finish()


def _rpc_error(err, args: argparse.Namespace, detail: str) -> int:

    from shared.grpc_util.errors import error_details

    code = exit_code(err.code())
    if code is ExitCode.UNREACHABLE:
        return _error(f"the training service at {args.target} is unreachable\n{detail}", code)
    bad_request, _ = error_details(err)
    if args.target and bad_request and any(v.field == "lora_file" for v in bad_request.field_violations):
        detail += (
            f"\n  with --target, --lora must name a LoRA file of yours on the service's storage (among your jobs' "
            f"outputs or your uploads, e.g. upload://ID), not this machine's {args.lora}; or pass --job "
            "trainingJobs/ID to use a finished job's LoRA"
        )
    return _error(f"generation {'refused' if code is ExitCode.REFUSED else 'failed'}\n{detail}", code)
