"""What a job's training workers read from its folder: run.json, the validation prompts' states and,
when the workers are launched elsewhere, the attempt's token.

The service writes them before each attempt, under <storage>/jobs/<id>/run/; workers never open the
job store. Paths inside run.json are relative to the storage root (the job folder's grandparent), so a
node that mounts the shared storage elsewhere still finds them. Every file is written to a temporary
name and renamed into place; the token file is created readable by its owner alone, and removed when
the attempt ends.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from shared.plain_json import from_plain, to_plain
from shared.request.json_input import input_from_json
from shared.request.validate import resolve
from train_svc.export.outputs import write_json
from train_svc.job_run.training_phase import TrainingPhase
from train_svc.training.encoding import PromptStates
from train_svc.validation.renderer import EncodedPrompts

RUN_FOLDER = "run"
RUN_FILE = "run.json"
PROMPTS_FILE = "prompts.safetensors"
TOKEN_FILE = "token"
FORMAT = "ltx-trainer-run/3"  # 3: base weights and offloaded blocks


@dataclass(frozen=True)
class WorkerRun:
    """One attempt at a job's training phase on workers."""

    phase: TrainingPhase
    attempt: int
    world_size: int
    device: str  # the service's --device: auto | cpu | cuda (a worker takes cuda:LOCAL_RANK)
    precision: str  # auto | bf16 | fp32
    base_weights: str  # auto | bf16 | fp32 | int8 | fp8
    offload_blocks: int  # transformer blocks kept on the host
    sample_files: tuple[Path, ...]  # latent cache entries, in sample-id order
    resume_step: int  # 0: from the start
    with_prompts: bool
    fence: int  # the claim's fencing token: the workers write only while <job>/run/fence holds it


def run_folder(job_dir: Path) -> Path:
    return job_dir / RUN_FOLDER


def storage_root(job_dir: Path) -> Path:
    return job_dir.parent.parent  # <storage>/jobs/<id>


def write_run(job_dir: Path, run: WorkerRun, prompts: EncodedPrompts | None) -> None:
    root = storage_root(job_dir)
    folder = run_folder(job_dir)
    folder.mkdir(parents=True, exist_ok=True)
    phase = run.phase
    relative = replace(
        phase,
        checkpoint_dir=phase.checkpoint_dir.relative_to(root),
        output_dir=phase.output_dir.relative_to(root),
        settings=None,
    )
    body: dict[str, Any] = {
        "format": FORMAT,
        **to_plain(replace(run, phase=relative, sample_files=tuple(p.relative_to(root) for p in run.sample_files))),
        "settings": phase.settings.to_json_dict(),
    }
    body["phase"]["previews_done"] = sorted(list(pair) for pair in phase.previews_done)
    write_json(folder / RUN_FILE, body)
    if prompts is not None:
        tensors = {"negative.embeds": prompts.negative.embeds, "negative.mask": prompts.negative.mask}
        for index, states in enumerate(prompts.prompts):
            tensors[f"{index}.embeds"], tensors[f"{index}.mask"] = states.embeds, states.mask
        tmp = folder / f".{PROMPTS_FILE}.tmp"
        save_file({name: t.detach().cpu().contiguous() for name, t in tensors.items()}, str(tmp))
        os.replace(tmp, folder / PROMPTS_FILE)


def read_run(job_dir: Path) -> tuple[WorkerRun, EncodedPrompts | None]:
    root = storage_root(job_dir)
    folder = run_folder(job_dir)
    body = json.loads((folder / RUN_FILE).read_text())
    if body.get("format") != FORMAT:
        raise ValueError(f"{folder / RUN_FILE} is not a {FORMAT} file")
    settings = resolve(input_from_json(body.pop("settings")))
    done = frozenset((int(step), int(index)) for step, index in body["phase"].pop("previews_done"))
    run = from_plain(WorkerRun, body)
    phase = replace(
        run.phase,
        settings=settings,
        checkpoint_dir=root / run.phase.checkpoint_dir,
        output_dir=root / run.phase.output_dir,
        previews_done=done,
    )
    run = replace(run, phase=phase, sample_files=tuple(root / p for p in run.sample_files))
    prompts = None
    if run.with_prompts:
        tensors = load_file(str(folder / PROMPTS_FILE))
        count = len(settings.validation)
        prompts = EncodedPrompts(
            prompts=tuple(PromptStates(tensors[f"{i}.embeds"], tensors[f"{i}.mask"]) for i in range(count)),
            negative=PromptStates(tensors["negative.embeds"], tensors["negative.mask"]),
        )
    return run, prompts


def write_token(job_dir: Path, token: str) -> None:
    folder = run_folder(job_dir)
    tmp = folder / f".{TOKEN_FILE}.tmp"
    tmp.unlink(missing_ok=True)
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token)
    os.replace(tmp, folder / TOKEN_FILE)


def read_token(job_dir: Path) -> str:
    return (run_folder(job_dir) / TOKEN_FILE).read_text().strip()


def remove_token(job_dir: Path) -> None:
    (run_folder(job_dir) / TOKEN_FILE).unlink(missing_ok=True)
