"""Bundles received by value: written whole and verified, or refused with nothing left behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from train_svc.bundle_receiver import BundleReceiver, BundleTransferError

DATA = bytes(range(256)) * 40  # 10240 bytes
SHA = hashlib.sha256(DATA).hexdigest()


def send(receiver: BundleReceiver, sample_id: str, data: bytes, chunk: int = 4096) -> None:
    for offset in range(0, len(data), chunk):
        receiver.chunk(sample_id, offset, data[offset : offset + chunk])


def test_chunks_become_the_bundle_file_once_checked(tmp_path: Path) -> None:
    receiver = BundleReceiver(tmp_path / "bundles")
    send(receiver, "set_a/clip.mp4#shot2", DATA)
    path = receiver.finish("set_a/clip.mp4#shot2", SHA, len(DATA))
    assert path.read_bytes() == DATA and path.parent == tmp_path / "bundles"
    send(receiver, "set_b/clip.mp4", DATA[:100])
    other = receiver.finish("set_b/clip.mp4", hashlib.sha256(DATA[:100]).hexdigest(), 100)
    assert other != path and sorted(p.name for p in (tmp_path / "bundles").iterdir()) == sorted([path.name, other.name])


def test_a_corrupted_bundle_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    receiver = BundleReceiver(tmp_path / "bundles")
    send(receiver, "a.mp4", DATA[:-1] + b"\x00")
    with pytest.raises(BundleTransferError, match=f"expected 10240 bytes with sha256 {SHA}"):
        receiver.finish("a.mp4", SHA, len(DATA))
    assert list((tmp_path / "bundles").iterdir()) == []


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([("a.mp4", 0, 10), ("a.mp4", 20, 10)], "chunk at byte 20, expected byte 10"),
        ([("a.mp4", 0, 10), ("a.mp4", 5, 10)], "chunk at byte 5, expected byte 10"),
        ([("a.mp4", 10, 10)], "first chunk starts at byte 10"),
        ([("a.mp4", 0, 10), ("b.mp4", 0, 10)], "chunk of bundle b.mp4 arrived before bundle a.mp4 ended"),
    ],
)
def test_gaps_overlaps_and_interleaving_are_refused(tmp_path: Path, chunks, message) -> None:
    receiver = BundleReceiver(tmp_path / "bundles")
    with pytest.raises(BundleTransferError, match=message):
        for sample_id, offset, size in chunks:
            receiver.chunk(sample_id, offset, DATA[offset : offset + size])
    assert not any(p.is_file() for p in (tmp_path / "bundles").glob("*"))


def test_a_reference_without_bytes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleTransferError, match="announced without its bytes"):
        BundleReceiver(tmp_path).finish("a.mp4", SHA, len(DATA))
