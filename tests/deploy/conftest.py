"""Every variant of deploy/kubernetes that tests/deploy checks (kustomize.ALL_VARIANTS), rendered once per
session."""

from __future__ import annotations

import pytest

from tests.deploy.kustomize import Doc, render_all


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> dict[str, list[Doc]]:
    """Each variant's objects as `kubectl kustomize` prints them (a copy: the tests may change them)."""
    return render_all(tmp_path_factory.mktemp)
