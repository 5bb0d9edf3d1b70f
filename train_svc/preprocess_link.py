"""How the training service reaches the preprocessor, and how the dataset's bundles come back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from shared.settings import Setting, SettingsModel


class PreprocessLink(SettingsModel):
    target: Annotated[
        str,
        Setting(
            "--preprocess-target",
            "LTX_PREPROCESS_TARGET",
            "gRPC target of PreprocessService: HOST:PORT, dns:///NAME:PORT or ipv4:A:P,B:P (round robin)",
        ),
    ]
    attempts: Annotated[
        int,
        Setting(
            "--preprocess-attempts",
            "LTX_PREPROCESS_ATTEMPTS",
            "Preprocess calls a job makes in all when streams break (UNAVAILABLE) before it fails",
        ),
    ] = Field(5, ge=1, le=50)
    # The client certificate, under TLS, is this service's own --tls-cert/--tls-key, as a mesh identity is.
    token_file: Annotated[
        Path | None,
        Setting(
            "--preprocess-token-file",
            "LTX_PREPROCESS_TOKEN_FILE",
            "token this service presents to the preprocessor (re-read for every call)",
        ),
    ] = None
    ca_cert: Annotated[
        Path | None,
        Setting(
            "--preprocess-ca-cert",
            "LTX_PREPROCESS_CA_CERT",
            "CA of the preprocessor's certificate: talk to it over TLS",
        ),
    ] = None
    bundle_delivery: Annotated[
        Literal["reference", "value"],
        Setting(
            "--bundle-delivery",
            "LTX_BUNDLE_DELIVERY",
            "reference: bundles are read where the preprocessor wrote them (shared storage); value: their "
            "bytes come in the Preprocess stream and are written to this service's storage",
        ),
    ] = "reference"
