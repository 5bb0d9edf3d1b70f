"""How a service authenticates its callers: the flags both services share, as one typed object."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from shared.auth.token_table import TokenFileError, TokenTable

DEFAULT_INTERNAL_PRINCIPALS = frozenset({"train-service"})


class AuthConfigError(ValueError):
    """The authentication settings do not fit together (the service refuses to start)."""


@dataclass(frozen=True)
class AuthSettings:
    tokens_file: Path | None = None  # `<principal> sha256:<hex>` lines; re-read when it changes
    tls_cert: Path | None = None  # the server's certificate chain (PEM); with tls_key, the port speaks TLS
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # client certificates are required and verified against it (mTLS)
    admin_principals: frozenset[str] = frozenset()  # see and act on every principal's objects
    internal_principals: frozenset[str] = DEFAULT_INTERNAL_PRINCIPALS  # may call internal RPCs
    insecure: bool = False  # listen beyond loopback without authentication
    health_port: int | None = None  # grpc.health.v1 alone, in plain text, for kubelet probes

    @property
    def enabled(self) -> bool:
        """Callers are authenticated (tokens, client certificates or both)."""
        return self.tokens_file is not None or self.tls_client_ca is not None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def check(self, host: str) -> None:
        """Raise AuthConfigError when the settings cannot work (a file missing or unreadable included), or
        would expose an unauthenticated port."""
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
        if not self.enabled and not self.insecure and not is_loopback_host(host):
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


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _names(value: str) -> frozenset[str]:
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def add_auth_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    group = p.add_argument_group("authentication")
    group.add_argument("--auth-tokens", default=env("LTX_AUTH_TOKENS"), help="token file: '<principal> sha256:<hex>'")
    group.add_argument("--tls-cert", default=env("LTX_TLS_CERT"), help="server certificate chain (PEM)")
    group.add_argument("--tls-key", default=env("LTX_TLS_KEY"), help="server private key (PEM)")
    group.add_argument("--tls-client-ca", default=env("LTX_TLS_CLIENT_CA"), help="CA of client certificates (mTLS)")
    group.add_argument(
        "--admin-principals", default=env("LTX_ADMIN_PRINCIPALS", ""), help="comma-separated; see every object"
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        default=env("LTX_INSECURE", "").strip().lower() in ("1", "true", "yes", "on"),
        help="listen beyond loopback without authentication (every caller is 'local')",
    )
    group.add_argument(
        "--health-port",
        type=int,
        default=int(env("LTX_HEALTH_PORT")) if env("LTX_HEALTH_PORT") else None,
        help="also serve grpc.health.v1 alone in plain text on this port (kubelet probes under mTLS)",
    )


def add_internal_principals_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--internal-principals",
        default=os.environ.get("LTX_INTERNAL_PRINCIPALS", ",".join(sorted(DEFAULT_INTERNAL_PRINCIPALS))),
        help="comma-separated principals allowed to call Preprocess (the training service)",
    )


def auth_settings_from_args(a: argparse.Namespace) -> AuthSettings:
    internal = getattr(a, "internal_principals", None)
    return AuthSettings(
        tokens_file=_path(a.auth_tokens),
        tls_cert=_path(a.tls_cert),
        tls_key=_path(a.tls_key),
        tls_client_ca=_path(a.tls_client_ca),
        admin_principals=_names(a.admin_principals),
        internal_principals=_names(internal) if internal is not None else DEFAULT_INTERNAL_PRINCIPALS,
        insecure=a.insecure,
        health_port=a.health_port,
    )
