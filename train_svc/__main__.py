"""python -m train_svc --port N --storage DIR --preprocess-target HOST:PORT --base-model X"""

from __future__ import annotations

import asyncio
import sys

from shared.auth import AuthConfigError
from shared.grpc_util.server import wait_for_termination_signal
from shared.logs import configure_logging, log_level_from_env
from shared.ready_file import write_ready_file
from train_svc.config import from_args
from train_svc.distributed.settings import WorldSizeUnavailable
from train_svc.distributed.workers import WorkersConfigError
from train_svc.jobs.store_contract import StoreError
from train_svc.models.base_model import BaseModelNotFound
from train_svc.models.base_registry import BaseModelSettingError
from train_svc.server import serve


async def _main(argv: list[str] | None) -> int:
    config = from_args(argv)
    try:
        service = await serve(config)
    except (
        BaseModelNotFound,
        BaseModelSettingError,
        StoreError,
        AuthConfigError,
        WorldSizeUnavailable,
        WorkersConfigError,
    ) as exc:
        print(f"train_svc: {exc}", file=sys.stderr)
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
