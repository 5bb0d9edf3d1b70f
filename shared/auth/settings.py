"""How a service authenticates its callers: the settings both services share, as one typed object."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import Field

from shared.auth.token_table import TokenFileError, TokenTable
from shared.settings import Setting, SettingsModel

DEFAULT_INTERNAL_PRINCIPALS = frozenset({"train-service"})


class AuthConfigError(ValueError):
    """The authentication settings do not fit together (the service refuses to start)."""


class AuthSettings(SettingsModel):
    """Who may call, over what transport. Internal principals (who may call internal RPCs) are a setting
    of the preprocessor alone (preprocess_svc.config), so here they are fixed to the default."""

    tokens_file: Annotated[
        Path | None, Setting("--auth-tokens", "LTX_AUTH_TOKENS", "token file: '<principal> sha256:<hex>' lines")
    ] = None
    tls_cert: Annotated[Path | None, Setting("--tls-cert", "LTX_TLS_CERT", "server certificate chain (PEM)")] = None
    tls_key: Annotated[Path | None, Setting("--tls-key", "LTX_TLS_KEY", "server private key (PEM)")] = None
    tls_client_ca: Annotated[
        Path | None, Setting("--tls-client-ca", "LTX_TLS_CLIENT_CA", "CA of client certificates (mTLS)")
    ] = None
    admin_principals: Annotated[
        frozenset[str],
        Setting("--admin-principals", "LTX_ADMIN_PRINCIPALS", "principals that see every object", split_flag=True),
    ] = frozenset()
    internal_principals: frozenset[str] = DEFAULT_INTERNAL_PRINCIPALS
    insecure: Annotated[
        bool,
        Setting("--insecure", "LTX_INSECURE", "listen beyond loopback unauthenticated (every caller is 'local')"),
    ] = False
    health_port: Annotated[
        int | None,
        Setting(
            "--health-port",
            "LTX_HEALTH_PORT",
            "also serve grpc.health.v1 alone in plain text on this port (kubelet probes under mTLS; 0: a free one)",
        ),
        Field(ge=0, le=65535),
    ] = None

    @property
    def enabled(self) -> bool:
        """Callers are authenticated (tokens, client certificates or both)."""
        return self.tokens_file is not None or self.tls_client_ca is not None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def check(self, host: str, *, servicer_authenticates: bool = False) -> None:
        """Raise AuthConfigError when the settings cannot work (a file missing or unreadable included), or
        would expose an unauthenticated port (unless the port's one servicer authenticates every call)."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise AuthConfigError("--tls-cert and --tls-key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise AuthConfigError("--tls-client-ca needs --tls-cert and --tls-key (client certificates ride on TLS)")
        for flag, path in (
            ("--tls-cert", self.tls_cert),
            ("--tls-key", self.tls_key),
            ("--tls-client-ca", self.tls_client_ca),
        ):
            if path is not None and not path.is_file():
                raise AuthConfigError(f"{flag} {path} is not a readable file")
        if self.tokens_file is not None:
            try:
                TokenTable(self.tokens_file)
            except TokenFileError as exc:
                raise AuthConfigError(str(exc)) from exc
        if not self.enabled and not self.insecure and not servicer_authenticates and not is_loopback_host(host):
            raise AuthConfigError(
                f"listening on {host} without authentication: configure --auth-tokens or --tls-client-ca, "
                "or pass --insecure (LTX_INSECURE=1) to accept every caller as the principal 'local'"
            )


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
