"""The ltx.trainer.v1 API as Python modules, generated from protos/ by `python -m shared.proto_codegen`.

Message modules (*_pb2) import eagerly; the gRPC stub modules (*_pb2_grpc) only when asked for, so
that code which only needs messages (request validation, the domain) does not load grpc.
"""

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from shared.api.gen.ltx.trainer.v1 import (
    common_pb2,
    generation_pb2,
    preprocess_service_pb2,
    training_service_pb2,
    worker_control_pb2,
)

if TYPE_CHECKING:  # what __getattr__ returns, for the type checker
    from shared.api.gen.ltx.trainer.v1 import preprocess_service_pb2_grpc as preprocess_service_pb2_grpc
    from shared.api.gen.ltx.trainer.v1 import training_service_pb2_grpc as training_service_pb2_grpc
    from shared.api.gen.ltx.trainer.v1 import worker_control_pb2_grpc as worker_control_pb2_grpc

_GEN = "shared.api.gen.ltx.trainer.v1"
_STUBS = ("preprocess_service_pb2_grpc", "training_service_pb2_grpc", "worker_control_pb2_grpc")


def __getattr__(name: str) -> ModuleType:
    if name in _STUBS:
        return importlib.import_module(f"{_GEN}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "common_pb2",
    "generation_pb2",
    "preprocess_service_pb2",
    "training_service_pb2",
    "worker_control_pb2",
    *_STUBS,
]
