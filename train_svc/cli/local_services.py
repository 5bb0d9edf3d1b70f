"""Both services as child processes (`python -m preprocess_svc`, `python -m train_svc`) on free loopback
ports, talking to each other over gRPC; the CLI never imports the services, it runs them.

Zero-config: no authentication (loopback only: the one principal `local`), and the only local folders
an archive may be read from are the ones the caller names (the CLI passes its archive's folder). The
children get the caller's environment without the services' settings (`LTX_*`, `TRAIN_SVC_*`,
`PREPROCESS_*`; kept: `LTX_LOG_LEVEL` and the process-wide `LTX_TRAINER_*`, such as the model cache),
so what runs is what the flags here say. Their JSON logs go to
`<storage>/logs/{preprocess_svc,train_svc}.log`; a child that fails to start is reported with the
end of its log. Each child runs in its own session, gets SIGTERM when the CLI process dies (Linux),
and on exit is stopped with SIGTERM (its jobs checkpoint) and, after `STOP_TIMEOUT_S`, SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from shared.parent_death import terminate_with_parent
from shared.ready_file import ServiceDidNotStart, wait_for_ready_file

START_TIMEOUT_S = 300.0  # a cold start imports torch and diffusers, and may build the tiny preset
STOP_TIMEOUT_S = 40.0  # above train_svc's default --grace-seconds (25)
LOG_TAIL_CHARS = 2000
_SERVICE_ENV_PREFIXES = ("LTX_", "TRAIN_SVC_", "PREPROCESS_")
_KEPT_ENV = ("LTX_LOG_LEVEL", "LTX_TRAINER_")


@dataclass(frozen=True)
class LocalServices:
    training_target: str
    preprocess_target: str


def default_storage() -> Path:
    """The CLI's storage root: $LTX_STORAGE, else ~/.cache/ltx-trainer/storage."""
    return Path(os.environ.get("LTX_STORAGE") or Path.home() / ".cache" / "ltx-trainer" / "storage")


def child_environment() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key.startswith(_KEPT_ENV) or not key.startswith(_SERVICE_ENV_PREFIXES)
    }


@asynccontextmanager
async def service_process(module: str, args: list[str], log_dir: Path, port: int = 0) -> AsyncIterator[str]:
    """`python -m module args --port PORT` (0: a free one), yielding its loopback target once it serves."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{module}.log"
    with tempfile.TemporaryDirectory(prefix="ltx-ready-") as tmp, open(log_path, "ab") as log:
        ready = Path(tmp) / "ready.json"
        argv = [
            sys.executable,
            "-m",
            module,
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ready-file",
            str(ready),
        ]
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=child_environment(),
            start_new_session=True,
            preexec_fn=terminate_with_parent,
        )
        try:
            try:
                info = await asyncio.to_thread(wait_for_ready_file, ready, process, START_TIMEOUT_S, module)
            except ServiceDidNotStart as exc:
                raise ServiceDidNotStart(f"{exc}; end of {log_path}:\n{_tail(log_path)}") from None
            yield f"127.0.0.1:{info.port}"
        finally:
            await asyncio.to_thread(_stop, process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError):  # what the service left in its group (preprocess workers)
        os.killpg(process.pid, signal.SIGKILL)


def _tail(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - LOG_TAIL_CHARS))
        return f.read().decode("utf-8", "replace")


@asynccontextmanager
async def local_services(
    storage: Path,
    base_model: str,
    *,
    lora_feed_forward: bool = False,
    device: str = "auto",
    precision: str = "auto",
    cpu_threads: int = 1,
    extra_lora_dirs: tuple[Path, ...] = (),
    allow_local_roots: tuple[Path, ...] = (),
    ports: tuple[int, int] = (0, 0),
) -> AsyncIterator[LocalServices]:
    """Both services on `storage`. `extra_lora_dirs`: folders besides storage whose LoRA files
    GenerateVideo may read (the caller's own files). `allow_local_roots`: folders whose archives
    training_data_url may name. `ports`: (training, preprocess), 0 for free ones.
    Raises ServiceDidNotStart (with the end of the child's log)."""
    storage = storage.resolve()
    storage.mkdir(parents=True, exist_ok=True)
    roots = [arg for root in allow_local_roots for arg in ("--allow-local-root", str(root.resolve()))]
    preprocess_args = ["--storage", str(storage), *roots]
    training_port, preprocess_port = ports
    training_args = [
        *("--storage", str(storage), "--base-model", base_model, "--device", device, "--precision", precision),
        *("--cpu-threads", str(cpu_threads), "--lora-targets", "attention+ff" if lora_feed_forward else "attention"),
        *[arg for folder in extra_lora_dirs for arg in ("--extra-lora-dir", str(folder.resolve()))],
        *roots,
    ]
    logs = storage / "logs"
    async with service_process("preprocess_svc", preprocess_args, logs, preprocess_port) as preprocess_target:
        training_args += ["--preprocess-target", preprocess_target]
        async with service_process("train_svc", training_args, logs, training_port) as training_target:
            yield LocalServices(training_target, preprocess_target)
