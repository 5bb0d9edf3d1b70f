"""Who is calling: the principal a request was authenticated as, and what it may do.

Every stored object (job, upload, generation, cache entry) belongs to the principal that made it. An
admin principal sees and acts on everyone's objects; an internal principal (the training service) may
call the preprocessor's internal RPC. With no authentication configured the service has one principal,
`local`, which is both (it listens on loopback only, or with --insecure).
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from dataclasses import dataclass

LOCAL = "local"
MAX_PRINCIPAL_CHARS = 256


def valid_principal(name: str) -> bool:
    """1 to 256 printable characters, no leading or trailing space (token-file names, SPIFFE ids, CNs)."""
    return 1 <= len(name) <= MAX_PRINCIPAL_CHARS and name.isprintable() and name == name.strip()


@dataclass(frozen=True)
class Caller:
    principal: str
    admin: bool = False  # sees and acts on every principal's objects
    internal: bool = False  # may call internal RPCs (PreprocessService.Preprocess)

    def owns(self, owner: str) -> bool:
        """True when this caller may see an object owned by `owner`."""
        return self.admin or owner == self.principal


LOCAL_CALLER = Caller(LOCAL, admin=True, internal=True)

_current: ContextVar[Caller] = ContextVar("ltx_caller")


def current_caller() -> Caller:
    """The caller of the RPC being served (set by the server's authentication layer)."""
    return _current.get()


def set_current_caller(caller: Caller) -> None:
    """Make `caller` the current one for the rest of this task (one RPC)."""
    _current.set(caller)


def owner_key(principal: str) -> str:
    """A file-name-safe key for a principal (its names may hold '/' and ':'): 32 hex digits of SHA-256."""
    return hashlib.sha256(principal.encode()).hexdigest()[:32]
