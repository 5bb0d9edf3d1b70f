"""A preprocessing run that fails leaves nothing of itself on storage but what it reported."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from preprocess_svc.errors import DatasetError
from preprocess_svc.pipeline import dataset_paths, run_preprocess
from shared.demo_dataset import make_short_clips_zip
from shared.disk_space import SpaceGuard, StorageFull


def _leftovers(storage: Path) -> list[Path]:
    root = dataset_paths(storage, "ds1").root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_rejected_dataset_leaves_no_archive_extracted_files_or_bundles(tmp_path, make_settings, worker_pool):
    archive = make_short_clips_zip(tmp_path / "short.zip", frames=4, count=2)
    storage = tmp_path / "storage"
    with pytest.raises(DatasetError):
        list(run_preprocess(make_settings(archive, number_of_frames=9), storage, worker_pool=worker_pool))
    assert _leftovers(storage) == []


def test_a_volume_too_full_for_the_extraction_stops_it_before_it_starts_and_keeps_nothing(
    tmp_path, make_settings, worker_pool
):
    archive = tmp_path / "zeros.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.mp4", bytes(100 << 20))  # 100 MB uncompressed, about 100 KB in the archive
    storage = tmp_path / "storage"
    storage.mkdir()
    # Room for the archive, not for what it unpacks to (the disk's free space moves far less meanwhile).
    guard = SpaceGuard(min_free_bytes=shutil.disk_usage(storage).free - (50 << 20))
    with pytest.raises(StorageFull) as caught:
        list(run_preprocess(make_settings(archive, space=guard), storage, worker_pool=worker_pool))
    assert caught.value.reason == "STORAGE_FULL" and caught.value.needed_bytes == 100 << 20
    assert _leftovers(storage) == []
