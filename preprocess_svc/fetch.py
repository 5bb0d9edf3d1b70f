"""Getting the dataset archive onto local disk.

fetch_archive copies a local path or file:// URL, or downloads http(s):// with connect and read
timeouts and a size cap enforced while streaming.
"""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import urllib.request
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlparse

import structlog

from preprocess_svc.errors import ArchiveError, ArchiveReason

log = structlog.get_logger(__name__)

_CHUNK = 1 << 20
_USER_AGENT = "ltx-trainer-preprocess/1"


def fetch_archive(url: str, dest: Path, *, max_bytes: int, connect_timeout_s: float, read_timeout_s: float) -> Path:
    """Put the archive at url into dest (a file path) and return dest."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        _download(url, dest, max_bytes=max_bytes, connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s)
    elif parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ArchiveError(ArchiveReason.FETCH_FAILED, f"file:// URL names a remote host: {url!r}")
        _copy_local(Path(unquote(parsed.path)), dest, max_bytes=max_bytes)
    elif parsed.scheme == "":
        _copy_local(Path(url), dest, max_bytes=max_bytes)
    else:
        raise ArchiveError(
            ArchiveReason.FETCH_FAILED,
            f"unsupported URL scheme {parsed.scheme!r} in {url!r}: use a local path, file://, http:// or https://",
        )
    log.info("archive_fetched", url=url, path=str(dest), size_bytes=dest.stat().st_size)
    return dest


def _too_large(what: str, size: int, max_bytes: int) -> ArchiveError:
    return ArchiveError(
        ArchiveReason.ARCHIVE_TOO_LARGE, f"{what} is {size:,} bytes, more than the limit of {max_bytes:,} bytes"
    )


def _copy_local(src: Path, dest: Path, *, max_bytes: int) -> None:
    if not src.exists():
        raise ArchiveError(ArchiveReason.NOT_FOUND, f"archive {str(src)!r} does not exist")
    if not src.is_file():
        raise ArchiveError(ArchiveReason.NOT_A_ZIP, f"archive {str(src)!r} is not a regular file")
    size = src.stat().st_size
    if size > max_bytes:
        raise _too_large(f"archive {str(src)!r}", size, max_bytes)
    if dest.exists() and dest.samefile(src):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


class _ReadTimeout:
    """Connection mixin: the request's timeout bounds connecting; read_timeout then bounds each read."""

    def __init__(self, *args, read_timeout: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _HTTPConnection(_ReadTimeout, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_ReadTimeout, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req, read_timeout=self.read_timeout)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float) -> None:
        self.ssl_context = ssl.create_default_context()
        super().__init__(context=self.ssl_context)
        self.read_timeout = read_timeout

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req, context=self.ssl_context, read_timeout=self.read_timeout)


def _download(url: str, dest: Path, *, max_bytes: int, connect_timeout_s: float, read_timeout_s: float) -> None:
    opener = urllib.request.build_opener(_HTTPHandler(read_timeout_s), _HTTPSHandler(read_timeout_s))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        _stream_to_file(opener, url, tmp, max_bytes=max_bytes, connect_timeout_s=connect_timeout_s)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)


def _stream_to_file(
    opener: urllib.request.OpenerDirector, url: str, out_path: Path, *, max_bytes: int, connect_timeout_s: float
) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with opener.open(request, timeout=connect_timeout_s) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(f"archive at {url!r} (Content-Length)", int(declared), max_bytes)
            received = 0
            with open(out_path, "wb") as out:
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise _too_large(f"archive at {url!r} (so far)", received, max_bytes)
                    out.write(chunk)
    except HTTPError as exc:
        reason = ArchiveReason.NOT_FOUND if exc.code in (404, 410) else ArchiveReason.FETCH_FAILED
        raise ArchiveError(reason, f"cannot fetch archive {url!r}: HTTP {exc.code} {exc.reason}") from exc
    except (URLError, http.client.HTTPException, OSError) as exc:
        raise ArchiveError(ArchiveReason.FETCH_FAILED, f"cannot fetch archive {url!r}: {exc}") from exc
