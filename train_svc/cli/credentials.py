"""The CLI's credentials for a remote service: a token and TLS files, from flags or the environment.

--token-file (LTX_TOKEN_FILE) or LTX_TOKEN (the token itself) is sent as "authorization: Bearer <token>";
--ca-cert turns TLS on (the service's certificate is checked against it); --client-cert and
--client-key are presented to a service that requires client certificates (mTLS).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from shared.grpc_util.channels import ClientCredentials


def add_credential_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("credentials (with --target)")
    group.add_argument("--token-file", type=Path, help="file holding the token (env LTX_TOKEN_FILE, or LTX_TOKEN)")
    group.add_argument("--ca-cert", type=Path, help="CA certificate (PEM) of the service: talk TLS")
    group.add_argument("--client-cert", type=Path, help="client certificate (PEM) for mTLS")
    group.add_argument("--client-key", type=Path, help="client private key (PEM) for mTLS")


def credentials_from_args(args: argparse.Namespace) -> ClientCredentials:
    """Raises SystemExit with a message when a file cannot be read or the flags do not fit together."""
    token_file = args.token_file or (Path(os.environ["LTX_TOKEN_FILE"]) if os.environ.get("LTX_TOKEN_FILE") else None)
    try:
        return ClientCredentials.from_files(
            token=os.environ.get("LTX_TOKEN"),
            token_file=token_file,
            ca_cert=args.ca_cert,
            client_cert=args.client_cert,
            client_key=args.client_key,
        )
    except (OSError, ValueError) as exc:
        print(f"error: cannot use the credentials: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
