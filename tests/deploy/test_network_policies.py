"""Who may connect to what, as the rendered NetworkPolicies say (evaluated here by Kubernetes' rules: a pod
selected by an Ingress policy takes only what one of those policies admits; no CNI is involved), and the
metrics that the ServiceMonitor scrapes through that door.

The design (deploy/README.md, "Network policies"): nothing gets in by default; the preprocessor's gRPC port
from the train pods only; the training API from any namespace (its calls are authenticated); the metrics
ports from the monitoring namespace only; each database from the train pods (and, for CloudNativePG, its
own instances and operator); the TrainJob workers to the train pod's worker control port and to each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.deploy.kustomize import ALL_VARIANTS, Doc, find
from tests.deploy.object_checks import selects

# kubectl runs as a child process: the integration tier
pytestmark = pytest.mark.integration

NAMESPACE = "ltx-trainer"
MONITORING = "monitoring"  # the monitoringNamespace parameter's value in overlays/*/parameters.yaml
CNPG_OPERATOR = "cnpg-system"


@dataclass(frozen=True)
class Peer:
    """A pod that opens a connection: its namespace's name and its labels."""

    namespace: str
    labels: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def of(namespace: str, **labels: str) -> Peer:
        return Peer(namespace, tuple(labels.items()))


def app(name: str, namespace: str = NAMESPACE) -> Peer:
    return Peer.of(namespace, **{"app.kubernetes.io/name": name})


TRAIN, PREPROCESS = app("train-svc"), app("preprocess-svc")
PROMETHEUS = app("prometheus", MONITORING)
ELSEWHERE = app("client", "team-a")  # a pod of another namespace
WORKER = app("train-workers")


def peer_matches(peer_rule: Doc, peer: Peer) -> bool:
    """One entry of a rule's `from`: pods by label in the policy's namespace, namespaces by label (the
    kubernetes.io/metadata.name label Kubernetes gives every namespace), or both."""
    if "ipBlock" in peer_rule:
        return False  # these manifests admit no address blocks
    namespaces = peer_rule.get("namespaceSelector")
    if namespaces is None:
        in_namespace = peer.namespace == NAMESPACE
    else:
        in_namespace = selects(namespaces, {"kubernetes.io/metadata.name": peer.namespace})
    return in_namespace and selects(peer_rule.get("podSelector", {}), dict(peer.labels))


def port_matches(rule: Doc, port: int, names: dict[str, int]) -> bool:
    """A rule's `ports` (none: every port), by number or by the target container's port name."""
    if "ports" not in rule:
        return True
    return any(names.get(entry["port"], entry["port"]) == port for entry in rule["ports"])


def admitted(docs: list[Doc], target: dict[str, str], port: int, peer: Peer, names: dict[str, int]) -> bool:
    """Whether `peer` may connect to `port` of a pod of this namespace labelled `target`."""
    policies = [
        doc["spec"]
        for doc in docs
        if doc["kind"] == "NetworkPolicy"
        and "Ingress" in doc["spec"]["policyTypes"]
        and selects(doc["spec"]["podSelector"], target)
    ]
    assert policies, f"no policy selects {target}: it takes everything"
    return any(
        port_matches(rule, port, names) and any(peer_matches(entry, peer) for entry in rule.get("from", []))
        for spec in policies
        for rule in spec.get("ingress", [])
    )


def pod_of(docs: list[Doc], kind: str, name: str) -> tuple[dict[str, str], dict[str, int]]:
    """A workload's pod labels and its container ports by name."""
    template = find(docs, kind, name)["spec"]["template"]
    names = {port["name"]: port["containerPort"] for c in template["spec"]["containers"] for port in c["ports"]}
    return template["metadata"]["labels"], names


def who(docs: list[Doc], kind: str, name: str, port_name: str, peers: dict[str, Peer]) -> set[str]:
    labels, names = pod_of(docs, kind, name)
    return {key for key, peer in peers.items() if admitted(docs, labels, names[port_name], peer, names)}


EVERYONE = {
    "train": TRAIN, "preprocess": PREPROCESS, "prometheus": PROMETHEUS, "elsewhere": ELSEWHERE, "worker": WORKER,
}  # fmt: skip


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_pod_is_isolated_for_ingress(rendered, variant):
    docs = rendered[variant]
    (deny,) = [doc for doc in docs if doc["kind"] == "NetworkPolicy" and doc["spec"]["podSelector"] == {}]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_the_preprocessor_takes_calls_from_the_train_pods_only(rendered, variant):
    assert who(rendered[variant], "Deployment", "preprocess", "grpc", EVERYONE) == {"train"}


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_the_training_api_is_open_to_the_cluster_on_its_grpc_port(rendered, variant):
    assert who(rendered[variant], "Deployment", "train", "grpc", EVERYONE) == set(EVERYONE)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_metrics_are_scraped_from_the_monitoring_namespace_only(rendered, variant):
    for name in ("train", "preprocess"):
        assert who(rendered[variant], "Deployment", name, "metrics", EVERYONE) == {"prometheus"}, name


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_no_pod_reaches_the_health_ports(rendered, variant):
    """The kubelet probes them from the node, which CNIs admit without a policy."""
    for name in ("train", "preprocess"):
        assert who(rendered[variant], "Deployment", name, "health", EVERYONE) == set(), name


@pytest.mark.parametrize("variant", ["prod-postgres-single", "base-postgres-single"])
def test_the_single_postgres_takes_the_train_pods_only(rendered, variant):
    assert who(rendered[variant], "StatefulSet", "ltx-jobs-postgres", "postgres", EVERYONE) == {"train"}


def test_the_cloudnativepg_instances_take_train_their_peers_and_the_operator(rendered):
    docs = rendered["prod"]
    cluster = find(docs, "Cluster", "ltx-jobs-db")["metadata"]["name"]
    instance = {"cnpg.io/cluster": cluster}
    peers = EVERYONE | {"instance": Peer.of(NAMESPACE, **instance), "operator": app("cnpg", CNPG_OPERATOR)}
    assert {key for key, peer in peers.items() if admitted(docs, instance, 5432, peer, {})} == {
        "train", "instance", "operator",
    }  # fmt: skip
    assert {key for key, peer in peers.items() if admitted(docs, instance, 8000, peer, {})} == {"instance", "operator"}
    assert not [doc for doc in rendered["prod-postgres-single"] if doc["metadata"]["name"] == "jobs-db"]


@pytest.mark.parametrize("variant", ["multi-node"])
def test_the_trainjob_workers_reach_the_control_port_and_each_other(rendered, variant):
    docs = rendered[variant]
    assert who(docs, "Deployment", "train", "worker-control", EVERYONE) == {"worker"}
    worker = dict(WORKER.labels)
    assert {key for key, peer in EVERYONE.items() if admitted(docs, worker, 29500, peer, {})} == {"worker"}


@pytest.mark.parametrize("variant", ["prod", "prod-postgres-single", "prod-one-node"])
def test_the_service_monitor_scrapes_both_services_metrics_ports(rendered, variant):
    docs = rendered[variant]
    monitor = find(docs, "ServiceMonitor", "ltx-trainer")["spec"]
    services = [
        doc for doc in docs if doc["kind"] == "Service" and selects(monitor["selector"], doc["metadata"]["labels"])
    ]
    assert sorted(service["metadata"]["name"] for service in services) == ["preprocess", "train"]
    config = find(docs, "ConfigMap", "ltx-trainer-config")["data"]
    (endpoint,) = monitor["endpoints"]
    for service in services:
        (port,) = [port for port in service["spec"]["ports"] if port["name"] == endpoint["port"]]
        _, names = pod_of(docs, "Deployment", service["metadata"]["name"])
        assert names[port["targetPort"]] == int(config["LTX_METRICS_PORT"]), service["metadata"]["name"]
    assert (endpoint["path"], endpoint["scheme"]) == ("/metrics", "http")
