"""python -m preprocess_svc --port N --storage DIR"""

from __future__ import annotations

import asyncio
import sys

from preprocess_svc.config import from_args
from preprocess_svc.server import serve
from shared.auth import AuthConfigError
from shared.grpc_util.server import wait_for_termination_signal
from shared.logs import configure_logging, log_level_from_env
from shared.ready_file import write_ready_file


async def _main(argv: list[str] | None) -> int:
    config = from_args(argv)
    try:
        service = await serve(config)
    except AuthConfigError as exc:
        print(f"preprocess_svc: {exc}", file=sys.stderr)
        return 2
    if config.server.ready_file is not None:
        write_ready_file(config.server.ready_file, service.port, service.running.health_port)
    await wait_for_termination_signal()
    await service.stop(config.grace_seconds)
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_logging(json=True, level=log_level_from_env("INFO"))
    return asyncio.run(_main(argv))


if __name__ == "__main__":
    sys.exit(main())
