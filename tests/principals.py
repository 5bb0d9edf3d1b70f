"""Real principals for tests: random bearer tokens, the token file the services read, client credentials.

alice and bob are ordinary tenants, ops is an admin, train-service is the training service's own
identity towards the preprocessor (its only internal principal).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.auth.token_table import token_digest_line
from shared.grpc_util.channels import ClientCredentials

TENANTS = ("alice", "bob")
ADMIN = "ops"
INTERNAL = "train-service"


@dataclass(frozen=True)
class Principals:
    folder: Path
    tokens: dict[str, str]

    @property
    def token_file(self) -> Path:
        """The services' --auth-tokens file."""
        return self.folder / "tokens.txt"

    def token_path(self, principal: str) -> Path:
        """A file holding just this principal's token (a client's --token-file)."""
        return self.folder / f"{principal}.token"

    def credentials(self, principal: str) -> ClientCredentials:
        return ClientCredentials(token=self.tokens[principal])

    def metadata(self, principal: str) -> tuple[tuple[str, str], ...]:
        return self.credentials(principal).metadata()


def make_principals(folder: Path, names: tuple[str, ...] = (*TENANTS, ADMIN, INTERNAL)) -> Principals:
    folder.mkdir(parents=True, exist_ok=True)
    tokens = {name: secrets.token_urlsafe(24) for name in names}
    principals = Principals(folder, tokens)
    lines = ["# principals of this test session", *(token_digest_line(n, t) for n, t in tokens.items())]
    principals.token_file.write_text("\n".join(lines) + "\n")
    for name, token in tokens.items():
        principals.token_path(name).write_text(token + "\n")
    return principals
