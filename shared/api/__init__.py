"""The ltx.trainer.v1 API as Python modules, generated from protos/ by `python -m shared.proto_codegen`."""

from shared.api.gen.ltx.trainer.v1 import (
    common_pb2,
    preprocess_service_pb2,
    preprocess_service_pb2_grpc,
    training_service_pb2,
    training_service_pb2_grpc,
)

__all__ = [
    "common_pb2",
    "preprocess_service_pb2",
    "preprocess_service_pb2_grpc",
    "training_service_pb2",
    "training_service_pb2_grpc",
]
