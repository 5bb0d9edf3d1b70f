"""ltx-trainer: train LTX-2.3 LoRAs through the gRPC services (in-process or remote), and generate with them."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from shared.logs import configure_logging, log_level_from_env
from shared.ready_file import ServiceDidNotStart
from train_svc.cli.bases_cmd import add_bases_parser, run_bases
from train_svc.cli.credentials import add_credential_arguments, credentials_from_args
from train_svc.cli.delete_cmd import add_delete_parser, run_delete
from train_svc.cli.estimate_cmd import add_estimate_parser, run_estimate
from train_svc.cli.exit_codes import ExitCode
from train_svc.cli.generate_cmd import add_generate_parser, run_generate
from train_svc.cli.local_services import default_storage, local_services
from train_svc.cli.lora_cmd import add_lora_parser, run_lora


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltx-trainer", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a LoRA from the hosted API's JSON request")
    train.add_argument("request", type=Path, help="REQUEST.json (hosted trainer input, unchanged)")
    train.add_argument("--out", type=Path, required=True, help="where the outputs are written")
    train.add_argument("--base-model", help="diffusers LTX-2.3/2.5 dir, hub id or tiny preset (in-process only)")
    train.add_argument("--target", help="HOST:PORT of a running TrainingService; default: start both here")
    train.add_argument(
        "--preprocess-target",
        help="HOST:PORT of the PreprocessService behind --target; a local archive is uploaded there first",
    )
    train.add_argument("--storage", type=Path, help="storage root of the in-process services")
    train.add_argument("--lora-targets", choices=["attention", "attention+ff"], default="attention")
    add_credential_arguments(train)

    demo = sub.add_parser("demo", help="make a small clip dataset with ffmpeg and train on the tiny preset")
    demo.add_argument("--out", type=Path, default=Path("ltx-demo"), help="work and output folder")
    demo.add_argument("--steps", type=int, default=100)

    serve = sub.add_parser("serve", help="run both services (child processes) until interrupted")
    serve.add_argument("--port", type=int, default=50052, help="TrainingService port")
    serve.add_argument("--preprocess-port", type=int, default=50051)
    serve.add_argument("--storage", type=Path)
    serve.add_argument("--base-model")

    add_generate_parser(sub)
    add_estimate_parser(sub)
    add_delete_parser(sub)
    add_lora_parser(sub)
    add_bases_parser(sub)
    return p


async def _train(args: argparse.Namespace) -> int:
    from train_svc.cli.progress import ProgressDisplay
    from train_svc.cli.train_cmd import load_request, local_archive, submit_and_follow, upload_local_archive

    request = load_request(args.request, make_paths_absolute=args.target is None)
    display = ProgressDisplay()
    if args.target:
        if args.base_model:
            print("note: --base-model is the server's setting; ignored with --target", file=sys.stderr)
        credentials = credentials_from_args(args)
        if exit_code := await upload_local_archive(args.request, request, args.preprocess_target, credentials):
            return exit_code
        return await submit_and_follow(args.target, request, args.out, display, credentials=credentials)
    if args.preprocess_target:
        print("note: --preprocess-target is for uploads to a remote --target; ignored in-process", file=sys.stderr)
    archive = local_archive(args.request, request)
    try:
        async with local_services(
            args.storage or default_storage(),
            args.base_model or _default_base_model(),
            lora_feed_forward=args.lora_targets == "attention+ff",
            allow_local_roots=(archive.parent,) if archive is not None else (),
        ) as services:
            return await submit_and_follow(services.training_target, request, args.out, display)
    except ServiceDidNotStart as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.REFUSED


def _default_base_model() -> str:
    from train_svc.models.base_model import default_base_model

    return default_base_model()


async def _serve(args: argparse.Namespace) -> int:

    storage = args.storage or default_storage()
    try:
        async with local_services(
            storage, args.base_model or _default_base_model(), ports=(args.port, args.preprocess_port)
        ) as services:
            print(f"TrainingService on {services.training_target}, PreprocessService on {services.preprocess_target}")
            await asyncio.Event().wait()
    except ServiceDidNotStart as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.REFUSED
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(json=False, level=log_level_from_env("WARNING"))
    if args.command == "train":
        return asyncio.run(_train(args))
    if args.command == "demo":
        from train_svc.cli.demo_cmd import run_demo

        return asyncio.run(run_demo(args.out, args.steps))
    if args.command == "generate":
        return run_generate(args)
    if args.command == "estimate":
        return run_estimate(args)
    if args.command == "delete":
        return run_delete(args)
    if args.command == "lora":
        return run_lora(args)
    if args.command == "bases":
        return run_bases(args)
    if args.command == "serve":
        try:
            return asyncio.run(_serve(args))
        except KeyboardInterrupt:
            return ExitCode.OK
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
