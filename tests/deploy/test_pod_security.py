"""The pods of every variant meet Pod Security's `restricted` profile, which the namespace enforces, and our
own rules beyond it: a read-only root file system with an emptyDir wherever the process writes outside its
volumes, native gRPC probes on the health port, `appProtocol: grpc` on the gRPC Service ports.

The profile's rules are Kubernetes' (the Pod Security Standards, `restricted`, at the latest version), written
out here because no checker of them is on PyPI: they are applied to every pod template of every variant and
to the pod of the multi-gpu TrainJob's patch.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from tests.deploy.kustomize import ALL_VARIANTS, MULTI_GPU, Doc, find

# kubectl runs as a child process: the integration tier
pytestmark = pytest.mark.integration

NAMESPACE = "ltx-trainer"
# The volume types the restricted profile allows.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
APP_USER = 10001  # the images' user (deploy/docker/*.Dockerfile: USER 10001:10001)


def pods(docs: list[Doc]) -> dict[str, Doc]:
    """Each workload's pod spec, by kind/name."""
    return {
        f"{doc['kind']}/{doc['metadata']['name']}": doc["spec"]["template"]["spec"]
        for doc in docs
        if doc["kind"] in ("Deployment", "StatefulSet")
    }


def trainjob_pod() -> Doc:
    """The pod spec the TrainJob's runtime patch gives its workers (its other fields come from the runtime)."""
    (job,) = [doc for doc in yaml.safe_load_all((MULTI_GPU / "trainjob.yaml").read_text()) if doc]
    (patch,) = job["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    return node["template"]["spec"]["template"]["spec"]


def restricted_violations(pod: Doc) -> Iterator[str]:
    """Where `pod` breaks the `restricted` Pod Security Standard."""
    context = pod.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            yield f"{key}: true"
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            yield f"volume {volume['name']}: {kinds}"
    if context.get("sysctls"):
        yield "sysctls"
    if context.get("runAsUser") == 0:
        yield "runAsUser 0"
    for container in pod.get("initContainers", []) + pod["containers"]:
        own, name = container.get("securityContext", {}), container["name"]
        if own.get("privileged"):
            yield f"{name}: privileged"
        if own.get("allowPrivilegeEscalation") is not False:
            yield f"{name}: allowPrivilegeEscalation is not false"
        capabilities = own.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            yield f"{name}: capabilities.drop lacks ALL"
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            yield f"{name}: capabilities.add {capabilities['add']}"
        if not own.get("runAsNonRoot", context.get("runAsNonRoot")):
            yield f"{name}: runAsNonRoot is not true"
        if own.get("runAsUser", context.get("runAsUser")) == 0:
            yield f"{name}: runAsUser 0"
        seccomp = own.get("seccompProfile", context.get("seccompProfile", {}))
        if seccomp.get("type") not in SECCOMP_TYPES:
            yield f"{name}: seccompProfile {seccomp}"
        if any("hostPort" in port for port in container.get("ports", [])):
            yield f"{name}: hostPort"
        if own.get("procMount", "Default") != "Default":
            yield f"{name}: procMount"


def test_the_namespace_enforces_the_restricted_level(rendered):
    labels = find(rendered["base"], "Namespace", NAMESPACE)["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", mode


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_pod_meets_the_restricted_profile(rendered, variant):
    found = {name: list(restricted_violations(pod)) for name, pod in pods(rendered[variant]).items()}
    assert {name: listed for name, listed in found.items() if listed} == {}


def test_the_trainjob_workers_meet_the_restricted_profile():
    assert list(restricted_violations(trainjob_pod())) == []


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_container_has_a_read_only_root_and_runs_as_the_image_user(rendered, variant):
    for name, pod in pods(rendered[variant]).items():
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["privileged"] is False, name
        if name in ("Deployment/train", "Deployment/preprocess"):
            context = pod["securityContext"]
            assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (APP_USER,) * 3


def writable(pod: Doc, container: Doc) -> dict[str, str]:
    """The folders `container` may write: mount path -> the kind of volume (read-only mounts left out)."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    found = {}
    for mount in container.get("volumeMounts", []):
        if not mount.get("readOnly") and mount["name"] in volumes:
            found[mount["mountPath"]] = next(iter(set(volumes[mount["name"]]) - {"name"}))
    return found


# Where each service writes outside its storage volume, under a read-only root: tempfile's /tmp (both), and
# for train_svc its home, ~/.cache (the Hugging Face cache, the ltx2.3-tiny preset, torch's kernel caches),
# ~/.triton and matplotlib's ~/.config/matplotlib (the loss plot); TensorBoard writes into the job folder.
SCRATCH = {"preprocess": {"/tmp"}, "train": {"/tmp", "/home/app"}}


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_each_service_has_an_empty_dir_wherever_it_writes(rendered, variant):
    docs = rendered[variant]
    for name, folders in SCRATCH.items():
        pod = find(docs, "Deployment", name)["spec"]["template"]["spec"]
        (server,) = pod["containers"]
        mounts = writable(pod, server)
        assert {folder: mounts.get(folder) for folder in folders} == dict.fromkeys(folders, "emptyDir"), name


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_the_services_are_probed_natively_over_grpc_on_their_health_port(rendered, variant):
    docs = rendered[variant]
    for name in ("train", "preprocess"):
        (server,) = find(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"]
        ports = {port["name"]: port["containerPort"] for port in server["ports"]}
        health = {var["name"]: var.get("value") for var in server["env"]}["LTX_HEALTH_PORT"]
        assert ports["health"] == int(health), name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert server[probe]["grpc"] == {"port": ports["health"]}, (name, probe)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_grpc_service_port_says_so(rendered, variant):
    """appProtocol grpc on each gRPC port, http on the metrics ports: meshes and gateways speak HTTP/2."""
    for doc in (doc for doc in rendered[variant] if doc["kind"] == "Service"):
        for port in doc["spec"]["ports"]:
            expected = {"metrics": "http", "postgres": None}.get(port["name"], "grpc")
            assert port.get("appProtocol") == expected, (doc["metadata"]["name"], port["name"])
