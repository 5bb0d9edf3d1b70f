"""CloudNativePG's `Cluster`, as the variants render it, against the JSON-schema validator of the npm package
`@kubernetes-models/cloudnative-pg` 2.0.0 (MIT; kubernetes-models-ts generated it from the Go API types of
CloudNativePG v1.29.0), run by node with tests/deploy/js/validate.mjs.

That validator checks the types, enums, formats, bounds and required fields of every field the API declares.
It does not reject a field the API does not declare: the package's schemas carry no
`additionalProperties: false`. A misspelled field is caught by the hand check of the fields these manifests
use (object_checks.cnpg_problems, run by test_overlays.py), which stays for that and for our own values.

The packages are installed before the tests, from the lock file, by `npm ci --prefix tests/deploy/js
--no-audit --no-fund` (README Quickstart, .ci/run); without them these tests fail, they do not skip.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.kustomize import ALL_VARIANTS, Doc, find
from tests.deploy.object_checks import CNPG_API, problems

# node runs as a child process: the integration tier
pytestmark = pytest.mark.integration

JS = Path(__file__).resolve().parent / "js"
SCRIPT = JS / "validate.mjs"
PACKAGE = "@kubernetes-models/cloudnative-pg"
VERSION = "2.0.0"
INSTALL = "npm ci --prefix tests/deploy/js --no-audit --no-fund"
# The variants that render a Cluster: overlays/prod, and one-node over it.
CLUSTER_VARIANTS = ["prod", "prod-one-node"]


def missing_install(folder: Path = JS) -> str | None:
    """Why the validator cannot run from `folder`, or None: node on PATH, and the locked package installed."""
    if shutil.which("node") is None:
        return "node is not on PATH: the CloudNativePG Cluster is validated with node (20 or newer)"
    installed = folder / "node_modules" / PACKAGE / "package.json"
    if not installed.is_file():
        return f"{PACKAGE} is not installed in {folder}: run `{INSTALL}` from the repository root"
    version = json.loads(installed.read_text())["version"]
    if version != VERSION:
        return f"{PACKAGE} {version} is installed in {folder}, the lock file says {VERSION}: run `{INSTALL}`"
    return None


def path_of(pointer: str) -> str:
    """ajv's instancePath (a JSON pointer, /spec/instances) as the other checks print paths (.spec.instances)."""
    keys = [key.replace("~1", "/").replace("~0", "~") for key in pointer.split("/")[1:]]
    return "".join(f"[{key}]" if key.isdigit() else f".{key}" for key in keys) or "."


def validation_errors(docs: list[Doc]) -> list[list[str]]:
    """Each object's errors, `<path>: <message>`, from validate.mjs."""
    problem = missing_install()
    if problem is not None:
        pytest.fail(problem)
    done = subprocess.run(
        ["node", str(SCRIPT)], input=json.dumps(docs), capture_output=True, text=True, timeout=60, cwd=JS
    )
    assert done.returncode == 0, f"validate.mjs failed ({done.returncode}):\n{done.stderr}"
    found: list[list[dict[str, Any]]] = json.loads(done.stdout)
    return [sorted(f"{path_of(error['instancePath'])}: {error['message']}" for error in errors) for errors in found]


def clusters(docs: list[Doc]) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == "Cluster"]


def test_the_lock_file_pins_the_package():
    manifest = json.loads((JS / "package.json").read_text())
    lock = json.loads((JS / "package-lock.json").read_text())
    assert manifest["dependencies"] == {PACKAGE: VERSION}
    assert lock["packages"][f"node_modules/{PACKAGE}"]["version"] == VERSION


def test_the_validator_is_installed():
    problem = missing_install()
    assert problem is None, problem


def test_a_missing_install_is_named_with_its_command(tmp_path):
    """What the tests fail with (they do not skip) before `npm ci` has run."""
    assert missing_install(tmp_path) == (
        f"{PACKAGE} is not installed in {tmp_path}: run `{INSTALL}` from the repository root"
    )


def test_exactly_these_variants_render_a_cluster(rendered):
    assert [variant for variant in ALL_VARIANTS if clusters(rendered[variant])] == CLUSTER_VARIANTS


@pytest.mark.parametrize("variant", CLUSTER_VARIANTS)
def test_every_rendered_cluster_is_valid(rendered, variant):
    found = clusters(rendered[variant])
    assert [doc["apiVersion"] for doc in found] == [CNPG_API]
    assert validation_errors(found) == [[]]


def test_a_broken_cluster_is_reported(rendered):
    """A wrong type is the validator's to report. A misspelled field it lets through (the package's schemas
    do not close their objects); the hand check reports it."""
    cluster = copy.deepcopy(find(rendered["prod"], "Cluster", "ltx-jobs-db"))
    cluster["spec"].update(instances="3", instace=3)
    cluster["spec"]["bootstrap"]["initdb"]["owner"] = ["ltx"]
    assert validation_errors([cluster]) == [
        [".spec.bootstrap.initdb.owner: must be string", ".spec.instances: must be integer"]
    ]
    assert ".spec.instace: not checked here" in problems(cluster)


def test_another_kind_is_not_passed():
    assert validation_errors([{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}]) == [
        [".: no validator for v1 Service"]
    ]
