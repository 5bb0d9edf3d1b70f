"""python -m preprocess_svc --port N --storage DIR"""

from __future__ import annotations

import asyncio
import signal
import sys

from preprocess_svc.config import from_args
from preprocess_svc.server import serve
from shared.logs import configure_logging


async def _main(argv: list[str] | None) -> int:
    config = from_args(argv)
    service = await serve(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await service.stop(config.grace_seconds)
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_logging(json=True)
    return asyncio.run(_main(argv))


if __name__ == "__main__":
    sys.exit(main())
