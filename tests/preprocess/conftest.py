"""Fixtures for the preprocessing tests: real ffmpeg-made media, real zips, a real HTTP server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from preprocess_svc.settings import PreprocessSettings
from preprocess_svc.worker_pool import WorkerPool
from shared.demo_dataset import make_demo_dataset
from shared.fetch_policy import FetchPolicy, parse_cidrs
from tests.loopback_http import HttpServer, serving

BUCKET = 64  # square test bucket, in pixels
FRAMES = 17
FPS = 24


@pytest.fixture(scope="session")
def demo_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo dataset at a small size: 5 clips of 2 s at 24 fps, 96x64, captions for 4 of them."""
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo.zip", seconds=2.0, size=(96, 64))


@pytest.fixture(scope="session")
def worker_pool() -> Iterator[WorkerPool]:
    """One warm pool of 2 workers for the session's runs, as the service shares its pool between runs:
    a run without one starts (and stops) 2 spawn processes of its own, about 1.5 s on 2 cores. Tests of
    the private pool, or that close a run early (its files in a worker finish there), pass none."""
    pool = WorkerPool(2)
    pool.start()
    yield pool
    pool.shutdown()


@pytest.fixture
def make_settings(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., PreprocessSettings]:
    """Settings for a run on the test bucket; local archives may come from pytest's temporary folders and
    downloads from the test server on 127.0.0.1 (run_preprocess still refuses its own storage)."""
    fetch = FetchPolicy(allow_local_roots=(tmp_path_factory.getbasetemp(),), allow_cidrs=parse_cidrs(["127.0.0.1/32"]))

    def make(url: str | Path, **overrides) -> PreprocessSettings:
        fields = {
            "fetch": fetch,
            "dataset_id": "ds1",
            "training_data_url": str(url),
            "trigger_phrase": "",
            "number_of_frames": FRAMES,
            "frame_rate": FPS,
            "width": BUCKET,
            "height": BUCKET,
            "workers": 2,
        }
        return PreprocessSettings(**{**fields, **overrides})

    return make


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpServer]:
    root = tmp_path / "www"
    root.mkdir()
    with serving(root) as server:
        yield server
