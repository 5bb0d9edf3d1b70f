"""The files the services are told to read come from the Secrets mounted where the settings say: the token
file in every variant, and in `prod` the TLS certificate, its key and the CA train_svc checks the
preprocessor's certificate with. A setting naming a file no mounted Secret provides would stop the pod at
start (or, for the CA, every call to the preprocessor)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from tests.deploy.kustomize import ALL_VARIANTS, Doc, find

# kubectl runs as a child process: the integration tier
pytestmark = pytest.mark.integration

# The settings that name a file the service reads (train_svc/config.py, preprocess_svc/config.py, shared/).
FILE_SETTINGS = {
    "LTX_AUTH_TOKENS",
    "LTX_PREPROCESS_TOKEN_FILE",
    "LTX_TLS_CERT",
    "LTX_TLS_KEY",
    "LTX_TLS_CLIENT_CA",
    "LTX_PREPROCESS_CA_CERT",
    "LTX_WORKER_CONTROL_TLS_CERT",
    "LTX_WORKER_CONTROL_TLS_KEY",
}
# Which service reads which of them (a service ignores the ConfigMap keys it does not read).
READERS = {
    "preprocess": {"LTX_AUTH_TOKENS", "LTX_TLS_CERT", "LTX_TLS_KEY", "LTX_TLS_CLIENT_CA"},
    "train": FILE_SETTINGS,
}
TLS = {"LTX_TLS_CERT", "LTX_TLS_KEY"}


def secret_files(pod: Doc, container: Doc) -> dict[PurePosixPath, tuple[str, str]]:
    """Each file a mounted Secret puts in `container`: its path -> (the Secret, its key)."""
    volumes = {volume["name"]: volume["secret"] for volume in pod["volumes"] if "secret" in volume}
    found = {}
    for mount in container["volumeMounts"]:
        if mount["name"] in volumes:
            assert mount.get("readOnly") is True, mount
            secret = volumes[mount["name"]]
            for item in secret["items"]:
                found[PurePosixPath(mount["mountPath"]) / item["path"]] = (secret["secretName"], item["key"])
    return found


def files_read(docs: list[Doc], name: str) -> dict[str, PurePosixPath]:
    """The file settings `name`'s container gets (from the ConfigMap and its own env) that it reads."""
    (server,) = find(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"]
    values = dict(find(docs, "ConfigMap", "ltx-trainer-config")["data"])
    values |= {var["name"]: var["value"] for var in server.get("env", []) if "value" in var}
    return {key: PurePosixPath(value) for key, value in values.items() if key in READERS[name] and value}


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_file_a_service_reads_is_in_a_mounted_secret(rendered, variant):
    docs = rendered[variant]
    for name in READERS:
        pod = find(docs, "Deployment", name)["spec"]["template"]["spec"]
        (server,) = pod["containers"]
        files = secret_files(pod, server)
        assert {key: path for key, path in files_read(docs, name).items() if path not in files} == {}, name


@pytest.mark.parametrize("variant", ["prod", "prod-postgres-single", "prod-one-node"])
def test_prod_serves_tls_from_one_secret_and_train_checks_the_preprocessor_with_its_ca(rendered, variant):
    docs = rendered[variant]
    for name in READERS:
        pod = find(docs, "Deployment", name)["spec"]["template"]["spec"]
        (server,) = pod["containers"]
        files = secret_files(pod, server)
        read = files_read(docs, name)
        assert {files[read[key]] for key in TLS} == {("ltx-trainer-tls", "tls.crt"), ("ltx-trainer-tls", "tls.key")}
        assert files[read["LTX_AUTH_TOKENS"]] == ("ltx-trainer-auth", "tokens")
    train = find(docs, "Deployment", "train")["spec"]["template"]["spec"]
    (server,) = train["containers"]
    assert secret_files(train, server)[files_read(docs, "train")["LTX_PREPROCESS_CA_CERT"]] == (
        "ltx-trainer-tls",
        "ca.crt",
    )


@pytest.mark.parametrize("variant", ["base", "dev"])
def test_the_other_variants_serve_plain_grpc_with_tokens(rendered, variant):
    for name in READERS:
        assert set(files_read(rendered[variant], name)) & (TLS | {"LTX_PREPROCESS_CA_CERT"}) == set(), name
