"""deploy/kubernetes as a user applies it: the base, overlays/dev, overlays/prod, overlays/prod-postgres-single
and the postgres-single component over the base, each rendered by `kubectl kustomize` (kustomize.py; only
rendered, no cluster).

Every rendered object is checked. Core/v1 and autoscaling/v2 objects go against the Kubernetes API models
that kubeflow-trainer-api carries (api_models.py). Those models have no apps/v1 or policy/v1: a Deployment's
or StatefulSet's pod template, label selector, metadata and volume claim templates go against the models,
the fields of its spec around them are checked by hand (KNOWN_FIELDS), and so is a PodDisruptionBudget.
NetworkPolicies are checked by hand too, the ServiceMonitor against its vendored schema (crd_validation.py), and
CloudNativePG's Cluster by hand (cnpg_problems: the fields used, nothing else); test_cnpg_cluster_schema.py
validates it against the schema validator of @kubernetes-models/cloudnative-pg too.

Then the behaviours a user relies on: dev is one pod of each service on CPU with SQLite; prod runs several
train replicas on the CloudNativePG database with rolling updates, GPUs and disruption budgets; the train
service reaches every preprocess pod through the headless Service; the postgres-single component is a
PostgreSQL StatefulSet wired to the train service as its job store.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Callable
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest

from shared.settings import load_settings
from shared.settings.tree import setting_fields
from tests.deploy.kustomize import BASE, COMPONENTS, KUBERNETES, OVERLAYS, Doc, find, overlay, render
from tests.deploy.object_checks import CNPG_API, problems, selects
from train_svc.config import SERVICE_ENV, TrainServiceConfig

# kubectl runs as a child process: the integration tier
pytestmark = pytest.mark.integration

README = KUBERNETES.parent / "README.md"
NAMESPACE = "ltx-trainer"

# What each variant is: the embedded SQLite job store, or a shared PostgreSQL one.
SQLITE = ["base", "dev"]
REPLICATED = ["prod", "prod-postgres-single"]  # several train replicas on PostgreSQL
POSTGRES_SINGLE = ["prod-postgres-single", "base-postgres-single"]
VARIANTS = SQLITE + REPLICATED + ["base-postgres-single"]


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, list[Doc]]:
    """Each variant as `kubectl kustomize` renders it; base-postgres-single is an overlay of one's own: the
    base with the component (one train replica on the component's PostgreSQL)."""
    found = {name: render(OVERLAYS / name) for name in ("dev", "prod", "prod-postgres-single")}
    found["base"] = render(BASE)
    own = overlay(tmp_path_factory.mktemp("base-postgres-single"), [BASE], [COMPONENTS / "postgres-single"])
    found["base-postgres-single"] = render(own)
    return found


# --- every object, against the models or by hand


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_is_valid(renders, variant):
    found = {f"{doc['kind']}/{doc['metadata']['name']}": problems(doc) for doc in renders[variant]}
    assert {name: listed for name, listed in found.items() if listed} == {}


# A change to a rendered object, and the problem it must be rejected with.
BREAKAGES: dict[str, tuple[str, Callable[[list[Doc]], None], str]] = {
    "a misspelled Deployment field": (
        "prod",
        lambda docs: find(docs, "Deployment", "train")["spec"].update(replica=2),
        ".spec.replica: unknown field",
    ),
    "rollingUpdate under Recreate": (
        "dev",
        lambda docs: find(docs, "Deployment", "train")["spec"]["strategy"].update(rollingUpdate={"maxSurge": 1}),
        ".spec.strategy.rollingUpdate: not for Recreate",
    ),
    "a selector that misses the pods": (
        "prod",
        lambda docs: find(docs, "Deployment", "train")["spec"]["selector"]["matchLabels"].update(x="y"),
        ".spec.selector: does not select the pod template",
    ),
    "a budget with both bounds": (
        "prod",
        lambda docs: find(docs, "PodDisruptionBudget", "train")["spec"].update(maxUnavailable=1),
        ".spec: one of minAvailable and maxUnavailable",
    ),
    "an unknown field in a claim template": (
        "prod-postgres-single",
        lambda docs: find(docs, "StatefulSet", "ltx-jobs-postgres")["spec"]["volumeClaimTemplates"][0]["spec"].update(
            storageClass="x"
        ),
        ".spec.volumeClaimTemplates[0].spec.storageClass: unknown field",
    ),
    "a Cluster field not checked": (
        "prod",
        lambda docs: find(docs, "Cluster", "ltx-jobs-db")["spec"].update(instance=3),
        ".spec.instance: not checked here",
    ),
    "an unknown field in a network policy rule": (
        "dev",
        lambda docs: find(docs, "NetworkPolicy", "train-api")["spec"]["ingress"][0].update(to=[]),
        ".spec.ingress[0].to: unknown field",
    ),
    "a ServiceMonitor endpoint field misspelled": (
        "prod",
        lambda docs: find(docs, "ServiceMonitor", "ltx-trainer")["spec"]["endpoints"][0].update(intervall="1m"),
        ".spec.endpoints[0]: Additional properties are not allowed ('intervall' was unexpected)",
    ),
    "a Cluster size that is no quantity": (
        "prod",
        lambda docs: find(docs, "Cluster", "ltx-jobs-db")["spec"]["storage"].update(size="20 GB"),
        ".spec.storage: {size: <quantity>}, got {'size': '20 GB'}",
    ),
}


@pytest.mark.parametrize(("variant", "breakage", "problem"), list(BREAKAGES.values()), ids=list(BREAKAGES))
def test_a_broken_object_is_rejected(renders, variant, breakage, problem):
    docs = copy.deepcopy(renders[variant])
    breakage(docs)
    assert [p for doc in docs for p in problems(doc)] == [problem]


# --- what the variants are for


def workload(docs: list[Doc], name: str, kind: str = "Deployment") -> Doc:
    return find(docs, kind, name)


def container(docs: list[Doc], name: str, kind: str = "Deployment") -> Doc:
    (first,) = workload(docs, name, kind)["spec"]["template"]["spec"]["containers"]
    return first


def env(container: Doc) -> dict[str, Doc]:
    """A container's own variables by name (value or valueFrom), not those of its envFrom."""
    return {var["name"]: var for var in container.get("env", [])}


def config(docs: list[Doc]) -> dict[str, str]:
    return find(docs, "ConfigMap", "ltx-trainer-config")["data"]


def secret_key(var: Doc) -> tuple[str, str]:
    """The Secret and key a variable takes its value from."""
    ref = var["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def gpus(container: Doc) -> list[str]:
    resources = container.get("resources", {})
    return [kind for kind in ("requests", "limits") if "nvidia.com/gpu" in resources.get(kind, {})]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_is_part_of_ltx_trainer_in_its_namespace(renders, variant):
    for doc in renders[variant]:
        meta = doc["metadata"]
        assert meta["labels"]["app.kubernetes.io/part-of"] == "ltx-trainer", meta["name"]
        assert meta.get("namespace", meta["name"] if doc["kind"] == "Namespace" else None) == NAMESPACE, meta["name"]


@pytest.mark.parametrize("variant", SQLITE)
def test_the_sqlite_job_store_has_one_train_pod_at_a_time(renders, variant):
    """No LTX_JOB_STORE: the embedded SQLite store, which one process at a time may own, so one replica and
    Recreate (the old pod is gone before the new one starts)."""
    docs = renders[variant]
    train = workload(docs, "train")["spec"]
    assert train["replicas"] == 1
    assert train["strategy"] == {"type": "Recreate"}
    assert "LTX_JOB_STORE" not in env(container(docs, "train")) and "LTX_JOB_STORE" not in config(docs)


def test_dev_runs_one_pod_of_each_service_on_cpu(renders):
    docs = renders["dev"]
    assert workload(docs, "preprocess")["spec"]["replicas"] == 1
    assert not [doc for doc in docs if doc["kind"] == "HorizontalPodAutoscaler"]
    for name in ("train", "preprocess"):
        assert gpus(container(docs, name)) == [], name
        assert "tolerations" not in workload(docs, name)["spec"]["template"]["spec"], name
    assert (config(docs)["LTX_DEVICE"], config(docs)["LTX_BASE_MODEL"]) == ("cpu", "ltx2.3-tiny")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_claim_a_pod_mounts_is_rendered(renders, variant):
    """dev drops the model volume with its mount: no pod waits for a claim that is not there."""
    docs = renders[variant]
    claims = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "PersistentVolumeClaim"}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            pod = doc["spec"]["template"]["spec"]
            volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
            volumes |= {claim["metadata"]["name"]: {} for claim in doc["spec"].get("volumeClaimTemplates", [])}
            for mount in (mount for c in pod["containers"] for mount in c.get("volumeMounts", [])):
                assert mount["name"] in volumes, (doc["metadata"]["name"], mount)
            used = {v["persistentVolumeClaim"]["claimName"] for v in volumes.values() if "persistentVolumeClaim" in v}
            assert used <= claims, doc["metadata"]["name"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_both_services_mount_the_shared_storage_at_the_same_path(renders, variant):
    """Bundles and job files travel as paths on one ReadWriteMany volume, shared by every pod."""
    docs = renders[variant]
    assert find(docs, "PersistentVolumeClaim", "ltx-storage")["spec"]["accessModes"] == ["ReadWriteMany"]
    for name in ("train", "preprocess"):
        pod = workload(docs, name)["spec"]["template"]["spec"]
        (mount,) = [m for m in container(docs, name)["volumeMounts"] if m["mountPath"] == config(docs)["LTX_STORAGE"]]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["persistentVolumeClaim"]["claimName"] == "ltx-storage", name


@pytest.mark.parametrize("variant", REPLICATED)
def test_prod_runs_several_train_replicas_with_rolling_updates(renders, variant):
    """A new pod is ready before an old one stops: the API stays up through a rollout."""
    docs = renders[variant]
    train = workload(docs, "train")["spec"]
    assert train["replicas"] >= 2
    assert train["strategy"]["type"] == "RollingUpdate"
    assert train["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert train["strategy"]["rollingUpdate"]["maxSurge"] >= 1
    assert "readinessProbe" in container(docs, "train")


@pytest.mark.parametrize("variant", REPLICATED)
def test_prod_gives_each_train_pod_a_gpu(renders, variant):
    resources = container(renders[variant], "train")["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == 1


def test_prod_takes_the_job_store_from_the_cloudnativepg_app_secret(renders):
    """CloudNativePG makes the Secret <cluster>-app for the database and owner of bootstrap.initdb; its key
    `uri` is their full postgresql:// URI."""
    docs = renders["prod"]
    (cluster,) = [doc for doc in docs if doc["kind"] == "Cluster"]
    assert cluster["apiVersion"] == CNPG_API
    assert secret_key(env(container(docs, "train"))["LTX_JOB_STORE"]) == (f"{cluster['metadata']['name']}-app", "uri")
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": "ltx_jobs", "owner": "ltx"}
    assert cluster["spec"]["instances"] >= 3  # a primary and two replicas to fail over to
    assert "LTX_JOB_STORE" not in config(docs)


@pytest.mark.parametrize("variant", REPLICATED)
def test_the_disruption_budgets_select_their_own_pods(renders, variant):
    """A drain takes one train pod at a time and never the last one, and one preprocess pod at a time."""
    docs = renders[variant]
    pods = {name: workload(docs, name)["spec"]["template"]["metadata"]["labels"] for name in ("train", "preprocess")}
    for name in ("train", "preprocess"):
        budget = find(docs, "PodDisruptionBudget", name)["spec"]
        assert {other for other, labels in pods.items() if selects(budget["selector"], labels)} == {name}
    assert find(docs, "PodDisruptionBudget", "train")["spec"]["minAvailable"] == 1
    assert workload(docs, "train")["spec"]["replicas"] > 1  # so a drain can go on
    assert find(docs, "PodDisruptionBudget", "preprocess")["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "dev"])
def test_the_preprocessor_keeps_its_autoscaler(renders, variant):
    docs = renders[variant]
    hpa = find(docs, "HorizontalPodAutoscaler", "preprocess")["spec"]
    assert (hpa["scaleTargetRef"]["kind"], hpa["scaleTargetRef"]["name"]) == ("Deployment", "preprocess")
    assert "replicas" not in workload(docs, "preprocess")["spec"]  # the autoscaler owns the count
    if variant in REPLICATED:
        assert hpa["minReplicas"] >= 2


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_train_service_reaches_every_preprocess_pod(renders, variant):
    """A headless Service (DNS answers with every ready pod) and a dns:/// target of its full name and port,
    so the train service's gRPC client can spread calls over the pods."""
    docs = renders[variant]
    service = find(docs, "Service", "preprocess")
    assert service["spec"]["clusterIP"] == "None"
    assert selects(
        {"matchLabels": service["spec"]["selector"]},
        workload(docs, "preprocess")["spec"]["template"]["metadata"]["labels"],
    )
    (port,) = [port for port in service["spec"]["ports"] if port["name"] == "grpc"]
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    assert config(docs)["LTX_PREPROCESS_TARGET"] == f"dns:///{name}.{namespace}.svc.cluster.local:{port['port']}"
    ports = {p["name"]: p["containerPort"] for p in container(docs, "preprocess")["ports"]}
    assert ports[port["targetPort"]] == port["port"] == int(config(docs)["PREPROCESS_SVC_PORT"])


@pytest.mark.parametrize("variant", POSTGRES_SINGLE)
def test_postgres_single_runs_one_pinned_postgres_on_its_own_volume(renders, variant):
    docs = renders[variant]
    database = workload(docs, "ltx-jobs-postgres", "StatefulSet")
    postgres = container(docs, "ltx-jobs-postgres", "StatefulSet")
    assert database["spec"]["replicas"] == 1
    assert re.fullmatch(r"postgres:16\.\d+", postgres["image"])  # the official image, a pinned 16.x
    (claim,) = database["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    (mount,) = [m for m in postgres["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    assert PurePosixPath(env(postgres)["PGDATA"]["value"]).is_relative_to(mount["mountPath"])

    service = find(docs, "Service", database["spec"]["serviceName"])
    assert selects({"matchLabels": service["spec"]["selector"]}, database["spec"]["template"]["metadata"]["labels"])
    (port,) = service["spec"]["ports"]
    assert {p["name"]: p["containerPort"] for p in postgres["ports"]}[port["targetPort"]] == 5432


@pytest.mark.parametrize("variant", POSTGRES_SINGLE)
def test_postgres_single_is_the_train_job_store(renders, variant):
    """The train service's LTX_JOB_STORE is the `uri` of the Secret whose `password` the server starts with,
    and no CloudNativePG Cluster is left."""
    docs = renders[variant]
    password = secret_key(env(container(docs, "ltx-jobs-postgres", "StatefulSet"))["POSTGRES_PASSWORD"])
    assert secret_key(env(container(docs, "train"))["LTX_JOB_STORE"]) == (password[0], "uri")
    assert not [doc for doc in docs if doc["kind"] == "Cluster"]


def readme_secret_command(name: str) -> list[str]:
    """The words of deploy/README.md's `kubectl ... create secret generic <name>` command (continuation
    lines joined)."""
    text = README.read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if f"create secret generic {name}" in line]
    return shlex.split(line, comments=True)


def test_the_readme_makes_the_postgres_single_secret_for_the_server(renders):
    """The URI the README puts in the Secret names the component's Service, port, user and database, with
    the password it puts beside it."""
    docs = renders["prod-postgres-single"]
    postgres = env(container(docs, "ltx-jobs-postgres", "StatefulSet"))
    secret, _ = secret_key(postgres["POSTGRES_PASSWORD"])
    literals = dict(
        word.removeprefix("--from-literal=").split("=", 1)
        for word in readme_secret_command(secret)
        if word.startswith("--from-literal=")
    )
    assert set(literals) == {"password", "uri"}
    uri = urlsplit(literals["uri"])
    service = find(docs, "Service", workload(docs, "ltx-jobs-postgres", "StatefulSet")["spec"]["serviceName"])
    (port,) = service["spec"]["ports"]
    assert uri.scheme == "postgresql"
    assert (uri.hostname, uri.port) == (f"{service['metadata']['name']}.{NAMESPACE}.svc", port["port"])
    assert (uri.username, uri.password) == (postgres["POSTGRES_USER"]["value"], literals["password"])
    assert uri.path == "/" + postgres["POSTGRES_DB"]["value"]


# --- the train service's settings

TRAIN_SETTINGS = {field.setting.env_name(SERVICE_ENV) for field in setting_fields(TrainServiceConfig)} - {None}
NOT_SETTINGS = {"OMP_NUM_THREADS"}  # read by torch, not by the service's settings


def train_env(docs: list[Doc]) -> dict[str, str]:
    """The train container's environment as the kubelet would give it, a Secret's value made up."""
    server, values = container(docs, "train"), {}
    for source in server.get("envFrom", []):
        values.update(find(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for name, var in env(server).items():
        if "value" in var:
            values[name] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            values[name] = "postgresql://ltx:secret@db.example:5432/ltx_jobs"  # the one Secret value used
    return values


def setting(settings: TrainServiceConfig, variable: str) -> object:
    """The value of the setting read from `variable`, found by its variable, wherever it is in the tree."""
    (field,) = [f for f in setting_fields(TrainServiceConfig) if f.setting.env_name(SERVICE_ENV) == variable]
    value: object = settings
    for name in field.path:
        value = getattr(value, name)
    return value


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_train_service_accepts_the_settings_it_gets(renders, variant):
    """Its parser takes the rendered environment; the SQLite variants leave the job store unset."""
    docs = renders[variant]
    settings = load_settings(
        TrainServiceConfig, [], service=SERVICE_ENV, prog="train_svc", description="", env=train_env(docs)
    )
    assert settings.preprocess.target == config(docs)["LTX_PREPROCESS_TARGET"]
    assert bool(setting(settings, "LTX_JOB_STORE")) == (variant not in SQLITE)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variable_set_for_the_train_service_is_one_it_reads(renders, variant):
    """The train container's own variables, and the job store's settings in the ConfigMap (which both
    services read, so its other keys may be the preprocessor's)."""
    docs = renders[variant]
    names = set(env(container(docs, "train"))) - NOT_SETTINGS
    names |= {"LTX_JOB_STORE", "LTX_LEASE_SECONDS"} & set(config(docs))
    assert names <= TRAIN_SETTINGS
