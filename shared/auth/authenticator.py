"""Turning what a call presents (an `authorization` header, a verified client certificate) into a Caller.

- No authentication configured: every call is the principal `local` (admin and internal).
- Tokens: `authorization: Bearer <token>` is required and must be in the token file.
- mTLS (a client CA): the TLS layer already refused a client without a certificate from that CA; the
  principal is the certificate's first URI SAN (a SPIFFE id, as meshes issue them), else its CN.
- Both: the certificate names the caller; a token sent as well must name the same principal. A token
  sent to a service that has no token file is ignored.
Anything else is Unauthenticated with a reason a client can act on.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.auth.caller import LOCAL_CALLER, Caller, valid_principal
from shared.auth.settings import AuthSettings
from shared.auth.token_table import TokenTable
from shared.quoting import quote
from shared.request.errors import DomainError, ErrorCode

MAX_TOKEN_CHARS = 4096
_BEARER = "bearer"


class Unauthenticated(DomainError):
    def __init__(self, reason: str, message: str):
        super().__init__(ErrorCode.UNAUTHENTICATED, reason, message)


class Authenticator:
    def __init__(self, settings: AuthSettings):
        self._settings = settings
        self._tokens = TokenTable(settings.tokens_file) if settings.tokens_file is not None else None

    def authenticate(self, authorization: Sequence[str], certificate_principal: str | None) -> Caller:
        """The caller of one call. `authorization`: the values of its `authorization` headers;
        `certificate_principal`: what its verified client certificate names (None without one)."""
        if not self._settings.enabled:
            return LOCAL_CALLER
        token_principal = self._token_principal(authorization) if self._tokens is not None else None
        if self._settings.tls_client_ca is not None:
            if certificate_principal is None or not valid_principal(certificate_principal):
                raise Unauthenticated(
                    "CERTIFICATE_WITHOUT_IDENTITY",
                    "the client certificate names no usable principal: give it a URI SAN (e.g. a SPIFFE id) "
                    "or a common name of printable characters",
                )
            if token_principal is not None and token_principal != certificate_principal:
                raise Unauthenticated(
                    "CREDENTIALS_DISAGREE",
                    f"the token names {quote(token_principal, 80)} but the client certificate names "
                    f"{quote(certificate_principal, 80)}; send the token of the certificate's principal, or none",
                )
            principal = certificate_principal
        elif token_principal is not None:
            principal = token_principal
        else:
            raise Unauthenticated(
                "MISSING_CREDENTIALS", "this service needs a token: send the metadata 'authorization: Bearer <token>'"
            )
        return Caller(
            principal,
            admin=principal in self._settings.admin_principals,
            internal=principal in self._settings.internal_principals,
        )

    def _token_principal(self, authorization: Sequence[str]) -> str | None:
        if not authorization:
            return None
        if len(authorization) > 1:
            raise Unauthenticated("MALFORMED_AUTHORIZATION", "send one 'authorization' header, not several")
        scheme, _, token = authorization[0].strip().partition(" ")
        token = token.strip()
        if scheme.lower() != _BEARER or not token or " " in token:
            raise Unauthenticated(
                "MALFORMED_AUTHORIZATION", "the 'authorization' header must be 'Bearer <token>' (one token, no spaces)"
            )
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("MALFORMED_AUTHORIZATION", f"the token is longer than {MAX_TOKEN_CHARS} characters")
        assert self._tokens is not None
        principal = self._tokens.principal_of(token)
        if principal is None:
            raise Unauthenticated("INVALID_TOKEN", "the token is not known to this service (revoked, or mistyped)")
        return principal
