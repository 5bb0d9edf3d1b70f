"""shared.bundle_ref.BundleRef <-> ltx.trainer.v1.BundleRef, both ways, by their common field names."""

from __future__ import annotations

import dataclasses

from shared.api import common_pb2
from shared.bundle_ref import BundleRef

FIELDS = tuple(f.name for f in dataclasses.fields(BundleRef))


def bundle_ref_to_proto(ref: BundleRef) -> common_pb2.BundleRef:
    """Any BundleRef (a BundleWritten too): only the wire's fields are read."""
    return common_pb2.BundleRef(**{name: getattr(ref, name) for name in FIELDS})


def bundle_ref_from_proto(message: common_pb2.BundleRef) -> BundleRef:
    return BundleRef(**{name: getattr(message, name) for name in FIELDS})
