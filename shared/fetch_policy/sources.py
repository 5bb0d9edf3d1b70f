"""Reading a training_data_url into what it names: an http(s) URL, a local file or a stored upload."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from shared.quoting import quote

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_FORMS = "an http(s):// URL, an absolute path, a file:/// URL or upload://<id>"


class SourceProblem(ValueError):
    """The URL names nothing the services can fetch; str() is a sentence saying why."""


@dataclass(frozen=True)
class HttpSource:
    url: str
    host: str  # as urlsplit gives it: lowercase, IPv6 brackets removed


@dataclass(frozen=True)
class LocalSource:
    path: Path  # absolute, as given (symlinks not resolved)


@dataclass(frozen=True)
class UploadSource:
    upload_id: str


Source = HttpSource | LocalSource | UploadSource


def parse_source(url: str) -> Source:
    """What `url` names; raises SourceProblem for anything that is none of the accepted forms."""
    if not url.strip():
        raise SourceProblem(f"the archive URL is empty: give {_FORMS}")
    if "\x00" in url:
        raise SourceProblem(f"{quote(url)} contains a NUL character")
    if url.startswith("/"):
        return LocalSource(Path(url))
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SourceProblem(f"{quote(url)} is not a valid URL ({exc})") from None
    if parts.scheme in ("http", "https"):
        return _http(url, parts)
    if parts.scheme == "file":
        return _file(url, parts)
    if parts.scheme == "upload":
        if _UPLOAD_ID.fullmatch(parts.netloc) and not (parts.path or parts.query or parts.fragment):
            return UploadSource(parts.netloc)
        raise SourceProblem(f"{quote(url)} is no upload id: upload:// must be followed by 32 lowercase hex digits")
    if not parts.scheme:
        raise SourceProblem(f"{quote(url)} is a relative path: give {_FORMS}")
    raise SourceProblem(f"{quote(url)} uses the scheme {parts.scheme!r}, which is not fetched: give {_FORMS}")


def _http(url: str, parts: SplitResult) -> HttpSource:
    if parts.username is not None or parts.password is not None:
        raise SourceProblem(f"{quote(url)} carries a user name or password: archive URLs may not hold credentials")
    try:
        port = parts.port
    except ValueError as exc:
        raise SourceProblem(f"{quote(url)} has an invalid port ({exc})") from None
    if port == 0:
        raise SourceProblem(f"{quote(url)} names port 0, which cannot be connected to")
    if not parts.hostname:
        raise SourceProblem(f"{quote(url)} names no host after {parts.scheme}://")
    return HttpSource(url=url, host=parts.hostname)


def _file(url: str, parts: SplitResult) -> LocalSource:
    if parts.netloc.lower() not in ("", "localhost"):
        raise SourceProblem(
            f"{quote(url)} names the host {quote(parts.netloc)}: a file:// URL may only name a local file "
            "(file:///path)"
        )
    path = unquote(parts.path)
    if "\x00" in path:
        raise SourceProblem(f"{quote(url)} contains a NUL character")
    if not path.startswith("/"):
        raise SourceProblem(f"{quote(url)} does not name an absolute path (write file:///path)")
    return LocalSource(Path(path))
