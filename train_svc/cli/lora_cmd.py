"""`ltx-trainer lora ...`: inspect, check and transform LoRA files, offline and without a GPU.

  inspect FILE [--json]        LTX version (ltx_version), metadata, rank, alpha, targeted modules, audio/video
                               keys, NaN/Inf scan, parameters
  check FILE --base-model X    does every module map onto a layer of the base, with fitting shapes? A LoRA
                               whose metadata names another LTX version (ltx_version) than the base's is
                               refused (exit 1), naming both versions and the modules that do not fit;
                               --force-version checks it anyway and lists the modules loaded and skipped
  strip-audio IN OUT           a copy without the audio branch's keys (metadata: audio false)
  strip-video IN OUT           a copy without the video branch's keys (metadata: video false)
  convert IN OUT --to F        the original / ComfyUI layout (comfyui) or diffusers' (diffusers)
  scale IN OUT FACTOR          the strength FACTOR folded into the weights (lora_B * FACTOR)

Exit codes: 0 done (check: everything fits; forced: some module loads); 1 check found modules that do not fit
(the report says which), or a LoRA for another LTX version without --force-version (or nothing of it fits);
2 a file could not be read or written, the base model was not found, or the transform cannot be done.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from train_svc.cli.exit_codes import ExitCode


def add_lora_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lora",
        help="inspect, check and transform LoRA files (offline, no GPU)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="lora_command", required=True)
    inspect = verbs.add_parser("inspect", help="what a LoRA file holds")
    inspect.add_argument("file", type=Path)
    inspect.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    check = verbs.add_parser("check", help="which keys map onto a base model's layers, and with what shapes")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--base-model", help="diffusers LTX-2.3/2.5 dir, hub id, or a tiny preset (default: the service's)"
    )
    check.add_argument(
        "--force-version",
        action="store_true",
        help="check a LoRA made for another LTX version anyway: list the modules that load and those skipped",
    )
    check.add_argument("--verbose", action="store_true", help="list every module, not only those that do not fit")
    for branch in ("audio", "video"):
        strip = verbs.add_parser(f"strip-{branch}", help=f"a copy of the file without the {branch} branch")
        strip.add_argument("input", type=Path)
        strip.add_argument("output", type=Path)
    convert = verbs.add_parser("convert", help="rewrite the file in another key layout")
    convert.add_argument("input", type=Path)
    convert.add_argument("output", type=Path)
    convert.add_argument("--to", choices=["comfyui", "diffusers"], required=True)
    scale = verbs.add_parser("scale", help="fold a strength into the weights")
    scale.add_argument("input", type=Path)
    scale.add_argument("output", type=Path)
    scale.add_argument("factor", type=float)


_FORCE_VERSION = "--force-version checks it anyway: the modules that would load, and those skipped"


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return ExitCode.REFUSED


def run_lora(args: argparse.Namespace) -> int:
    from train_svc.lora_tools.lora_io import LoraReadError, LoraWriteError
    from train_svc.lora_tools.transforms import TransformError
    from train_svc.models.base_model import BaseModelNotFound

    try:
        if args.lora_command == "inspect":
            return _inspect(args)
        if args.lora_command == "check":
            return _check(args)
        return _transform(args)
    except (LoraReadError, LoraWriteError, TransformError, BaseModelNotFound) as exc:
        return _error(str(exc))


def _inspect(args: argparse.Namespace) -> int:
    from train_svc.lora_tools.lora_io import read_lora
    from train_svc.lora_tools.summary import render_summary, summarize

    summary = summarize(read_lora(args.file))
    print(json.dumps(summary.as_json(), indent=2) if args.json else render_summary(summary, str(args.file)))
    return ExitCode.OK


def _check(args: argparse.Namespace) -> int:
    from train_svc.lora_tools.fit import base_layers, check_fit, render_fit, render_version_fit, version_fit
    from train_svc.lora_tools.lora_io import read_lora
    from train_svc.lora_tools.version_fit import mismatch_message
    from train_svc.models.base_model import default_base_model, resolve_base_model
    from train_svc.models.library_noise import quiet_model_libraries

    lora = read_lora(args.file)
    quiet_model_libraries()
    base = resolve_base_model(args.base_model or default_base_model())
    layers = base_layers(base.path)
    fit = version_fit(lora, layers, base.version)
    if fit.mismatched and not args.force_version:
        print(mismatch_message(fit, str(args.file), _FORCE_VERSION, base.name))
        return ExitCode.FAILED
    if fit.mismatched:
        print(render_version_fit(fit, str(args.file), base.name, verbose=args.verbose))
        return ExitCode.OK if fit.loaded else ExitCode.FAILED
    report = check_fit(lora, layers)
    print(render_fit(report, str(args.file), base.name, verbose=args.verbose))
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _transform(args: argparse.Namespace) -> int:
    from train_svc.lora_tools import transforms
    from train_svc.lora_tools.lora_io import read_lora, write_lora_file

    lora = read_lora(args.input)
    command = args.lora_command
    if command == "strip-audio":
        result = transforms.strip_branch(lora, "audio")
    elif command == "strip-video":
        result = transforms.strip_branch(lora, "video")
    elif command == "convert":
        result = transforms.convert(lora, args.to)
    elif command == "scale":
        result = transforms.scale(lora, args.factor)
    else:
        raise AssertionError(command)
    write_lora_file(args.output, result, source=args.input)
    print(f"wrote {args.output}: {len(result.tensors)} tensors (from {len(lora.tensors)})")
    return ExitCode.OK
