"""Bearer tokens from a file, re-read whenever it changes.

One principal per line, `<principal> sha256:<64 hex digits>`: the SHA-256 of the token, never the
token itself. Blank lines and `#` comments are ignored; a principal may have several lines (rotation).
A token is looked up by comparing its digest with every entry in constant time, whatever matches.
A file that changes into something unreadable keeps the last good table in force (and says so in the
log): a typo in a rotation must not lock every caller out.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog

from shared.auth.caller import valid_principal
from shared.quoting import clip

log = structlog.get_logger(__name__)

_LINE = re.compile(r"(?P<principal>\S+)\s+sha256:(?P<digest>[0-9a-fA-F]{64})")


class TokenFileError(ValueError):
    """The token file cannot be read or has a bad line."""


@dataclass(frozen=True)
class _Entry:
    principal: str
    digest: bytes


def parse_token_file(text: str, source: str = "token file") -> tuple[_Entry, ...]:
    entries: list[_Entry] = []
    owners: dict[bytes, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise TokenFileError(f"{source} line {number}: expected '<principal> sha256:<64 hex digits>'")
        principal = match["principal"]
        if not valid_principal(principal):
            raise TokenFileError(f"{source} line {number}: principal {clip(principal, 60)!r} is not a valid name")
        digest = bytes.fromhex(match["digest"])
        if owners.setdefault(digest, principal) != principal:
            raise TokenFileError(f"{source} line {number}: the same token digest is given to two principals")
        entries.append(_Entry(principal, digest))
    return tuple(entries)


def token_digest_line(principal: str, token: str) -> str:
    """The token-file line for `principal` with `token`."""
    return f"{principal} sha256:{hashlib.sha256(token.encode()).hexdigest()}"


class TokenTable:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._version: tuple[int, int, int] | None = None
        self._entries: tuple[_Entry, ...] = ()
        self._load(initial=True)

    def _stat_version(self) -> tuple[int, int, int]:
        stat = os.stat(self.path)  # follows the symlinks of a Kubernetes Secret volume
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def _load(self, *, initial: bool = False) -> None:
        try:
            version = self._stat_version()
            if version == self._version:
                return
            entries = parse_token_file(self.path.read_text(encoding="utf-8"), str(self.path))
        except (OSError, UnicodeDecodeError, TokenFileError) as exc:
            if initial:
                raise TokenFileError(f"cannot use the token file {self.path}: {exc}") from exc
            log.error("auth_tokens_reload_failed", path=str(self.path), error=clip(str(exc)), kept=len(self._entries))
            return
        self._version, self._entries = version, entries
        log.info("auth_tokens_loaded", path=str(self.path), entries=len(entries))

    def principal_of(self, token: str) -> str | None:
        """The principal whose token this is, or None; the file is re-read first if it changed."""
        with self._lock:
            self._load()
            entries = self._entries
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found: str | None = None
        for entry in entries:  # every entry is compared: the time taken says nothing about which matched
            if hmac.compare_digest(entry.digest, digest):
                found = entry.principal
        return found
