"""The hostile corpus against real services: each case gets exactly its documented outcome.

On top of each case's own expectation: no INTERNAL, every error status under 4 KiB with at most ~200
characters of any value quoted and no path of the service's storage in it, and (the `guarded` fixture)
nothing written outside the storage root or into the victim principal's objects.
"""

from __future__ import annotations

import pytest

from shared.grpc_util.errors import MAX_STATUS_BYTES
from tests.hostile.cases import CORPUS
from tests.hostile.corpus import Case

# Both real services (the e2e stack) answer every case, and some cases train jobs: the integration tier.
pytestmark = pytest.mark.integration


def _check(case: Case, world) -> None:
    outcome = case.act(world)
    assert outcome.code != "INTERNAL", outcome
    assert (outcome.code, outcome.reason) == (case.code, case.reason), outcome.message
    assert outcome.status_bytes < MAX_STATUS_BYTES
    assert len(outcome.message) < 1200  # messages quote at most ~200 characters of what the caller sent
    assert str(world.stack.storage) not in outcome.message  # nor the service's own paths


def _cases(kind: str):
    return pytest.mark.parametrize("case", CORPUS.of(kind), ids=lambda case: case.name)


@_cases("requests")
def test_request(case, world, guarded):
    _check(case, world)


@_cases("archives")
def test_archive(case, world, guarded):
    _check(case, world)


@_cases("media")
def test_media(case, world, guarded):
    _check(case, world)


@_cases("urls")
def test_url(case, world, guarded):
    _check(case, world)


@_cases("metadata")
def test_metadata(case, world, guarded):
    _check(case, world)


@_cases("tenancy")
def test_tenancy(case, world, guarded):
    _check(case, world)
