"""Fixtures for the preprocessing tests: real ffmpeg-made media, real zips, a real HTTP server."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from preprocess_svc.settings import PreprocessSettings
from shared.demo_dataset import make_demo_dataset

BUCKET = 64  # square test bucket, in pixels
FRAMES = 17
FPS = 24


@pytest.fixture(scope="session")
def demo_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo dataset at a small size: 5 clips of 2 s at 24 fps, 96x64, captions for 4 of them."""
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo.zip", seconds=2.0, size=(96, 64))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., PreprocessSettings]:
    def make(url: str | Path, **overrides) -> PreprocessSettings:
        fields = {
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


class _TestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder; /no-length/<name> omits Content-Length, /stall never sends the body."""

    stall_s = 1.5

    def do_GET(self) -> None:
        if self.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.flush()
            time.sleep(self.stall_s)
        elif self.path.startswith("/no-length/"):
            body = (Path(self.directory) / self.path.removeprefix("/no-length/")).read_bytes()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def log_message(self, format: str, *args) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # clients in these tests hang up mid-body on purpose


@dataclass(frozen=True)
class HttpServer:
    root: Path  # files served from here
    base_url: str  # http://127.0.0.1:<port>


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpServer]:
    root = tmp_path / "www"
    root.mkdir()

    def handler(*args, **kwargs) -> _TestHandler:
        return _TestHandler(*args, directory=str(root), **kwargs)

    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield HttpServer(root=root, base_url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
