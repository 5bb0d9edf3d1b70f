"""A real HTTP server on 127.0.0.1 for fetch tests, with routes that misbehave on purpose."""

from __future__ import annotations

import http.server
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class _TestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder, plus routes that misbehave on purpose:

    /no-length/<name>      the file without Content-Length
    /stall, /stall/<s>     headers (Content-Length 10), then no body for stall_s (or <s>) seconds
    /trickle/<n>           headers (Content-Length n), then one body byte every trickle_s seconds
    /trickle-headers       the status line, then one header byte every trickle_s / 3 seconds, for ever
    /redirect?to=<url>     302 to <url>
    /chain/<n>/<name>      302 to /chain/<n-1>/<name>, and /chain/1/<name> to /<name>: n redirects in all
    /status/<code>         an empty answer with that status

    Every request path is appended to server.requests, and (path, time.monotonic()) to server.hangups
    when a stalling or trickling route notices that its client hung up. Such a route stops as soon as
    the client hangs up.
    """

    stall_s = 1.5
    trickle_s = 0.3

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        url = urlsplit(self.path)
        route, _, rest = url.path.lstrip("/").partition("/")
        if route == "stall":
            self._send_head(200, {"Content-Length": "10"})
            self._pause(float(rest) if rest else self.stall_s)
        elif route == "trickle":
            self._send_head(200, {"Content-Length": rest})
            for _ in range(int(rest)):
                if self._pause(self.trickle_s):
                    return
                self.wfile.write(b"x")
                self.wfile.flush()
        elif route == "trickle-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not self._pause(self.trickle_s / 3):
                self.wfile.write(b"a")
                self.wfile.flush()
        elif route == "redirect":
            self._send_head(302, {"Location": parse_qs(url.query)["to"][0], "Content-Length": "0"})
        elif route == "chain":
            count, _, name = rest.partition("/")
            target = f"/chain/{int(count) - 1}/{name}" if int(count) > 1 else f"/{name}"
            self._send_head(302, {"Location": target, "Content-Length": "0"})
        elif route == "status":
            self._send_head(int(rest), {"Content-Length": "0"})
        elif route == "no-length":
            body = (Path(self.directory) / rest).read_bytes()
            self._send_head(200, {})
            self.wfile.write(body)
        else:
            super().do_GET()

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()

    def _pause(self, seconds: float) -> bool:
        """Wait `seconds`; True as soon as the client has closed the connection."""
        ends_at = time.monotonic() + seconds
        while (left := ends_at - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    closed = self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    closed = True
                if closed:
                    self.server.hangups.append((self.path, time.monotonic()))
                    return True
                time.sleep(min(left, 0.05))
        return False

    def log_message(self, format: str, *args) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    requests: list[str]
    hangups: list[tuple[str, float]]

    def handle_error(self, request, client_address) -> None:
        pass  # clients in these tests hang up mid-body on purpose


@dataclass(frozen=True)
class HttpServer:
    root: Path  # files served from here
    base_url: str  # http://127.0.0.1:<port>
    port: int
    requests: list[str]  # the path of every request received, in order
    hangups: list[tuple[str, float]]  # (path, time.monotonic()) of each client a slow route saw hang up


@contextmanager
def serving(root: Path) -> Iterator[HttpServer]:
    """Serve the files under `root` (and the routes above) on a free port of 127.0.0.1."""

    def handler(*args, **kwargs) -> _TestHandler:
        return _TestHandler(*args, directory=str(root), **kwargs)

    server = _QuietServer(("127.0.0.1", 0), handler)
    server.requests = []
    server.hangups = []
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield HttpServer(
            root=root, base_url=f"http://127.0.0.1:{port}", port=port, requests=server.requests, hangups=server.hangups
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
