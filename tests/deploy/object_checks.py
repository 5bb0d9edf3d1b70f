"""How each rendered object is checked: against the API models where they have its kind, by hand where
they do not (apps/v1, policy/v1, networking/v1, the CloudNativePG Cluster), and the ServiceMonitor against
its vendored schema (crd_validation.py). The Cluster is also validated against the schema validator of
@kubernetes-models/cloudnative-pg (test_cnpg_cluster_schema.py), which does not reject unknown fields: the
hand check here is what does."""

from __future__ import annotations

import re
from collections.abc import Iterator

from kubeflow_trainer_api.models import (  # type: ignore[import-untyped]
    IoK8sApiAutoscalingV2HorizontalPodAutoscaler,
    IoK8sApiCoreV1ConfigMap,
    IoK8sApiCoreV1Namespace,
    IoK8sApiCoreV1PersistentVolumeClaim,
    IoK8sApiCoreV1PodTemplateSpec,
    IoK8sApiCoreV1Service,
    IoK8sApimachineryPkgApisMetaV1LabelSelector,
    IoK8sApimachineryPkgApisMetaV1ObjectMeta,
    IoK8sApimachineryPkgUtilIntstrIntOrString,
)

from tests.deploy.api_models import model_problems
from tests.deploy.crd_validation import VENDORED, crd_problems
from tests.deploy.kustomize import Doc

CNPG_API = "postgresql.cnpg.io/v1"

MODELS = {
    ("v1", "Namespace"): IoK8sApiCoreV1Namespace,
    ("v1", "ConfigMap"): IoK8sApiCoreV1ConfigMap,
    ("v1", "Service"): IoK8sApiCoreV1Service,
    ("v1", "PersistentVolumeClaim"): IoK8sApiCoreV1PersistentVolumeClaim,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): IoK8sApiAutoscalingV2HorizontalPodAutoscaler,
}

# The spec fields of the apps/v1 and policy/v1 objects the models lack, as Kubernetes 1.37's API reference
# lists them; the parts of them that the models have are checked against the models.
KNOWN_FIELDS = {
    ("apps/v1", "Deployment"): {
        "replicas", "selector", "template", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused",
        "progressDeadlineSeconds",
    },
    ("apps/v1", "StatefulSet"): {
        "replicas", "selector", "template", "volumeClaimTemplates", "serviceName", "podManagementPolicy",
        "updateStrategy", "revisionHistoryLimit", "minReadySeconds", "persistentVolumeClaimRetentionPolicy",
        "ordinals",
    },
    ("policy/v1", "PodDisruptionBudget"): {"minAvailable", "maxUnavailable", "selector", "unhealthyPodEvictionPolicy"},
    ("networking.k8s.io/v1", "NetworkPolicy"): {"podSelector", "policyTypes", "ingress", "egress"},
}  # fmt: skip
# A NetworkPolicy's rules: the fields of each rule, peer and port.
RULE_FIELDS = {"ingress": {"from", "ports"}, "egress": {"to", "ports"}}
PEER_FIELDS = {"podSelector", "namespaceSelector", "ipBlock"}
PORT_FIELDS = {"protocol", "port", "endPort"}
STRATEGIES = {"Recreate": set(), "RollingUpdate": {"maxUnavailable", "maxSurge"}}  # DeploymentStrategy's types


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector picks `labels` (matchLabels, and matchExpressions with In or Exists: the
    operators these manifests use)."""
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] in ("In", "Exists"), expression
        if expression["key"] not in labels:
            return False
        if expression["operator"] == "In" and labels[expression["key"]] not in expression["values"]:
            return False
    return selector.get("matchLabels", {}).items() <= labels.items()


def network_policy_problems(spec: Doc) -> Iterator[str]:
    """A NetworkPolicy's rules by hand: known fields, and each peer one kind of selector or a block."""
    for direction, fields in RULE_FIELDS.items():
        for index, rule in enumerate(spec.get(direction, [])):
            where = f".spec.{direction}[{index}]"
            yield from (f"{where}.{key}: unknown field" for key in set(rule) - fields)
            for n, peer in enumerate(rule.get("from", rule.get("to", []))):
                yield from (f"{where}.peers[{n}].{key}: unknown field" for key in set(peer) - PEER_FIELDS)
                for key in {"podSelector", "namespaceSelector"} & set(peer):
                    selector = model_problems(IoK8sApimachineryPkgApisMetaV1LabelSelector, peer[key])
                    yield from (f"{where}.peers[{n}].{key}{p}" for p in selector)
            for n, port in enumerate(rule.get("ports", [])):
                yield from (f"{where}.ports[{n}].{key}: unknown field" for key in set(port) - PORT_FIELDS)
    if set(spec.get("policyTypes", [])) - {"Ingress", "Egress"}:
        yield f".spec.policyTypes: Ingress or Egress, got {spec['policyTypes']}"


def workload_problems(doc: Doc) -> Iterator[str]:
    """A Deployment, StatefulSet or PodDisruptionBudget: its spec's fields by hand, the parts the models
    have against them, and the rules of the API server we rely on (the selector picks the pod template)."""
    yield from (f".metadata{p}" for p in model_problems(IoK8sApimachineryPkgApisMetaV1ObjectMeta, doc["metadata"]))
    spec = doc["spec"]
    yield from (f".spec.{key}: unknown field" for key in set(spec) - KNOWN_FIELDS[doc["apiVersion"], doc["kind"]])
    if doc["kind"] == "NetworkPolicy":
        selector = model_problems(IoK8sApimachineryPkgApisMetaV1LabelSelector, spec["podSelector"])
        yield from (f".spec.podSelector{p}" for p in selector)
        yield from network_policy_problems(spec)
        return
    yield from (
        f".spec.selector{p}" for p in model_problems(IoK8sApimachineryPkgApisMetaV1LabelSelector, spec["selector"])
    )
    if doc["kind"] == "PodDisruptionBudget":
        budgets = [key for key in ("minAvailable", "maxUnavailable") if key in spec]
        if len(budgets) != 1:
            yield ".spec: one of minAvailable and maxUnavailable"
        for key in budgets:
            yield from (f".spec.{key}{p}" for p in model_problems(IoK8sApimachineryPkgUtilIntstrIntOrString, spec[key]))
        return
    yield from (f".spec.template{p}" for p in model_problems(IoK8sApiCoreV1PodTemplateSpec, spec["template"]))
    if not selects(spec["selector"], spec["template"]["metadata"]["labels"]):
        yield ".spec.selector: does not select the pod template"
    if not isinstance(spec.get("replicas", 1), int):
        yield ".spec.replicas: not an integer"
    if doc["kind"] == "Deployment":
        strategy = spec.get("strategy", {"type": "RollingUpdate"})
        if strategy.get("type") not in STRATEGIES or set(strategy) - {"type", "rollingUpdate"}:
            yield f".spec.strategy: not a DeploymentStrategy: {strategy}"
        elif set(strategy.get("rollingUpdate", {})) - STRATEGIES[strategy["type"]]:
            yield f".spec.strategy.rollingUpdate: not for {strategy['type']}"
    for index, claim in enumerate(spec.get("volumeClaimTemplates", [])):
        where = f".spec.volumeClaimTemplates[{index}]"
        yield from (where + p for p in model_problems(IoK8sApiCoreV1PersistentVolumeClaim, claim))


# Kubernetes' quantity (resource.Quantity): a decimal number and an optional suffix.
QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?")


def cnpg_problems(doc: Doc) -> Iterator[str]:
    """CloudNativePG's Cluster, by hand: only the fields these manifests use, each of its type. A field
    outside them is reported, to be checked against CloudNativePG's API reference before it is added here:
    the package validator of test_cnpg_cluster_schema.py checks types and bounds but lets an unknown (or
    misspelled) field through, and takes any string as the storage size."""
    yield from (f".metadata{p}" for p in model_problems(IoK8sApimachineryPkgApisMetaV1ObjectMeta, doc["metadata"]))
    spec = doc["spec"]
    yield from (f".spec.{key}: not checked here" for key in set(spec) - {"instances", "storage", "bootstrap"})
    if not isinstance(spec.get("instances"), int) or spec["instances"] < 1:
        yield ".spec.instances: a positive integer"
    storage = spec.get("storage", {})
    if set(storage) - {"size", "storageClass"} or not QUANTITY.fullmatch(str(storage.get("size"))):
        yield f".spec.storage: {{size: <quantity>}}, got {spec.get('storage')}"
    initdb = spec.get("bootstrap", {}).get("initdb", {})
    if set(spec.get("bootstrap", {})) != {"initdb"} or set(initdb) != {"database", "owner"}:
        yield f".spec.bootstrap: {{initdb: {{database, owner}}}}, got {spec.get('bootstrap')}"
    elif not all(isinstance(value, str) and value for value in initdb.values()):
        yield ".spec.bootstrap.initdb: names"


def problems(doc: Doc) -> list[str]:
    kind = (doc["apiVersion"], doc["kind"])
    if kind in MODELS:
        return model_problems(MODELS[kind], doc)
    if kind in KNOWN_FIELDS:
        return list(workload_problems(doc))
    if kind == (CNPG_API, "Cluster"):
        return list(cnpg_problems(doc))
    if kind in VENDORED:
        return crd_problems(doc)
    return [f"{kind}: no check for this kind"]
