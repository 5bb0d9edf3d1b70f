"""A real PostgreSQL server for the tests, from the `pgserver` wheel's binaries (PostgreSQL 16).

It listens only on a Unix socket in its own temporary folder (no TCP port at all). PostgreSQL refuses to
run as root, so when the tests run as root (as on CI machines) initdb and postgres run as the
unprivileged user `nobody` through setpriv, and the folder is handed to that user. Each test that needs
a clean store gets a database of its own (`database`).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

# The wheel's binaries, found without importing the package (its import has side effects we do not need).
_PACKAGE = importlib.util.find_spec("pgserver")
assert _PACKAGE is not None and _PACKAGE.origin is not None, "pgserver is a test dependency"
BIN = Path(_PACKAGE.origin).parent / "pginstall" / "bin"
SUPERUSER = "ltx"
START_TIMEOUT_S = 30.0


def _as_unprivileged() -> list[str]:
    """The command prefix that runs a program as `nobody` when we are root; nothing otherwise."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


class PostgresServer:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ltx-pg-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        data = self.folder / "data"
        prefix = _as_unprivileged()
        subprocess.run(
            [*prefix, str(BIN / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self._log = open(self.folder / "server.log", "wb")  # noqa: SIM115 - open for the server's lifetime
        self._process = subprocess.Popen(
            [
                *prefix,
                str(BIN / "postgres"),
                "-D",
                str(data),
                "-k",
                str(self.folder),
                "-c",
                "listen_addresses=",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=300",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.folder}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"PostgreSQL did not start: {log}") from None
                time.sleep(0.05)

    def database(self) -> str:
        """The URL of a new, empty database."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return self.url(name)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)
