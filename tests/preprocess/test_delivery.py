"""Bundles by value: a real run's bundles turned into chunks that rebuild them exactly."""

from __future__ import annotations

import hashlib
from pathlib import Path

from preprocess_svc.delivery import BundleChunk, inline_bundles
from preprocess_svc.events import BundleWritten
from preprocess_svc.pipeline import run_preprocess


def test_each_bundle_comes_as_chunks_then_its_reference_and_leaves_no_file(
    tmp_path: Path, demo_zip: Path, make_settings, worker_pool
) -> None:
    events = list(
        inline_bundles(
            run_preprocess(make_settings(demo_zip), tmp_path / "storage", worker_pool=worker_pool), chunk_bytes=50_000
        )
    )

    received: dict[str, bytearray] = {}
    refs = [e for e in events if isinstance(e, BundleWritten)]
    for event in events:
        if isinstance(event, BundleChunk):
            data = received.setdefault(event.sample_id, bytearray())
            assert event.offset == len(data) and len(event.data) <= 50_000
            data += event.data
        elif isinstance(event, BundleWritten):
            assert event.sample_id in received, "the bytes come before their reference"
    assert len(refs) == 5 and sorted(received) == sorted(r.sample_id for r in refs)
    for ref in refs:
        data = bytes(received[ref.sample_id])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (ref.size_bytes, ref.sha256)
        assert ref.size_bytes > 50_000  # several chunks each
        assert ref.uri == "" and not ref.path.exists()
