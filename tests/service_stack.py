"""Both services in one background event loop, with authentication on, for tests that talk gRPC to them.

The preprocessor accepts `Preprocess` from train-service only; the training service presents
train-service's token to it, takes alice's and bob's tokens as tenants and ops's as an admin's. Local
archives may be read from the folders the test allows (the storage itself is never readable that way).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from shared.api import preprocess_service_pb2_grpc, training_service_pb2_grpc
from shared.auth import AuthSettings
from shared.fetch_policy import FetchPolicy
from shared.grpc_util.channels import sync_channel
from shared.grpc_util.listen import ListenSettings
from tests.principals import ADMIN, INTERNAL, Principals
from train_svc.models.tiny_preset import PRESET_NAME


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="services-loop", daemon=True)
        self.thread.start()

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=300)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@dataclass
class Stack:
    host: LoopThread
    preprocess: Any  # preprocess_svc.server.PreprocessService
    replicas: list[Any]  # train_svc.server.TrainingService, each on its own port
    principals: Principals
    storage: Path

    @property
    def training(self) -> Any:
        return self.replicas[0]

    @property
    def training_target(self) -> str:
        return self.target(0)

    def target(self, replica: int) -> str:
        return f"127.0.0.1:{self.replicas[replica].port}"

    @property
    def preprocess_target(self) -> str:
        return f"127.0.0.1:{self.preprocess.port}"

    def channel(self, principal: str = "alice", target: str | None = None, **options: Any) -> grpc.Channel:
        credentials = self.principals.credentials(principal)
        return sync_channel(target or self.training_target, credentials, options=list(options.items()))

    def stub(self, principal: str = "alice", replica: int = 0) -> training_service_pb2_grpc.TrainingServiceStub:
        return training_service_pb2_grpc.TrainingServiceStub(self.channel(principal, self.target(replica)))

    def preprocess_stub(self, principal: str = "alice") -> preprocess_service_pb2_grpc.PreprocessServiceStub:
        return preprocess_service_pb2_grpc.PreprocessServiceStub(self.channel(principal, self.preprocess_target))


def auth_settings(principals: Principals) -> AuthSettings:
    return AuthSettings(
        tokens_file=principals.token_file,
        admin_principals=frozenset({ADMIN}),
        internal_principals=frozenset({INTERNAL}),
    )


@contextmanager
def service_stack(
    storage: Path,
    principals: Principals,
    *,
    allow_local_roots: tuple[Path, ...] = (),
    preprocess_storage: Path | None = None,
    preprocess_settings: dict[str, Any] | None = None,
    link_settings: dict[str, Any] | None = None,
    replicas: int = 1,
    replica_settings: Sequence[dict[str, Any]] = (),
    **training_settings: Any,
) -> Iterator[Stack]:
    """Both services, authenticated, on `storage` (the preprocessor on `preprocess_storage` if given), with
    `replicas` training services (more than one needs a shared job store in `training_settings`); replica i
    takes `replica_settings[i]` over `training_settings`, where given.

    `preprocess_settings` and `training_settings` override any config field, authentication included;
    `link_settings` any field of the training service's PreprocessLink."""
    from preprocess_svc.config import PreprocessServiceConfig
    from preprocess_svc.server import serve as serve_preprocess
    from train_svc.config import TrainServiceConfig
    from train_svc.preprocess_link import PreprocessLink
    from train_svc.server import serve as serve_training

    host = LoopThread()
    preprocess_root = preprocess_storage or storage
    preprocess = host.call(
        serve_preprocess(
            PreprocessServiceConfig(
                **{
                    "storage": preprocess_root,
                    "server": ListenSettings(port=0),
                    "auth": auth_settings(principals),
                    "fetch": FetchPolicy(allow_local_roots=allow_local_roots, storage_root=preprocess_root),
                    **(preprocess_settings or {}),
                }
            )
        )
    )
    try:
        common: dict[str, Any] = {
            "storage": storage,
            "preprocess": PreprocessLink(
                **{
                    "target": f"127.0.0.1:{preprocess.port}",
                    "token_file": principals.token_path(INTERNAL),
                    **(link_settings or {}),
                }
            ),
            "base_model": (PRESET_NAME,),
            "server": ListenSettings(port=0),
            "auth": auth_settings(principals),
            "fetch": FetchPolicy(allow_local_roots=allow_local_roots, storage_root=storage),
            **training_settings,
        }
        started: list[Any] = []
        try:
            for replica in range(replicas):
                own = replica_settings[replica] if replica < len(replica_settings) else {}
                started.append(host.call(serve_training(TrainServiceConfig(**{**common, **own}))))
            yield Stack(host, preprocess, started, principals, storage)
        finally:
            for training in started:
                if not training.manager.draining:
                    host.call(training.stop(grace=2.0))
    finally:
        host.call(preprocess.stop(grace=1.0))
        host.close()
