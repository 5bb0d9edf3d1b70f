"""`--ready-file FILE`: a started service writes the ports it bound there, so whoever launched it with
`--port 0` learns the free port the kernel chose, with no race for ports and no log scraping.

The file is JSON, `{"port": N, "health_port": M or null, "pid": P}`, written to a temporary name
and renamed into place, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReadyInfo:
    port: int
    health_port: int | None
    pid: int


def write_ready_file(path: Path, port: int, health_port: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps({"port": port, "health_port": health_port, "pid": os.getpid()}))
    os.replace(partial, path)


class ServiceDidNotStart(RuntimeError):
    """The child exited, or did not report its ports in time; the message says which."""


def wait_for_ready_file(path: Path, process: subprocess.Popen, timeout_s: float, name: str) -> ReadyInfo:
    """Poll for the file `process` writes once it serves; fail as soon as the process exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        if path.exists():
            data = json.loads(path.read_text())
            return ReadyInfo(int(data["port"]), data.get("health_port"), int(data["pid"]))
        if process.poll() is not None:
            raise ServiceDidNotStart(f"{name} exited with status {process.returncode} before it served")
        if time.monotonic() > deadline:
            raise ServiceDidNotStart(f"{name} did not report its port within {timeout_s:g} s")
        time.sleep(0.05)
