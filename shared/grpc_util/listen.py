"""Where a service listens, and where it reports the port it bound (shared.ready_file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from shared.settings import Setting, SettingsModel


class ListenSettings(SettingsModel):
    host: Annotated[str, Setting("--host", "{service}_HOST", "address to listen on")] = "127.0.0.1"
    port: Annotated[int, Setting("--port", "{service}_PORT", "port to listen on; 0 picks a free one")] = Field(
        ge=0, le=65535
    )
    # Plain HTTP on the same host as the gRPC port (so no more exposed than it), unauthenticated: it
    # carries figures only (no job ids, principals or file names).
    metrics_port: Annotated[
        int | None,
        Setting(
            "--metrics-port",
            "LTX_METRICS_PORT",
            "serve Prometheus metrics at http://HOST:PORT/metrics on --host (unset: off; 0: a free one)",
        ),
        Field(ge=0, le=65535),
    ] = None
    ready_file: Annotated[
        Path | None, Setting("--ready-file", None, "once serving, write the bound ports here as JSON")
    ] = None
