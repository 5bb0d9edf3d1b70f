"""The train pods' memory, recomputed from the memory estimator's model of LTX-2.3 (train_svc/estimate:
the real configs built on the meta device), so that a bigger model or a changed manifest cannot leave the
pods short of memory, or over-provisioned, without this test saying so.

What a train pod holds in host memory at worst (deploy/README.md, "Resources"):
- the generation pipeline, which train_svc parks in host memory between generations (every component of
  the model in bf16; only in pods that run the service, not in the TrainJob's workers),
- the frozen transformer in bf16 (the estimator's base weights) per rank, which each training rank loads
  through host memory on its way to its GPU,
- the memory-backed emptyDirs (/dev/shm), which count against the limit,
- and a working margin for the rest (the interpreter and libraries, CUDA's host state, batches, checkpoints),
rounded up to the next ROUNDING. Requests equal limits (Guaranteed QoS).
"""

from __future__ import annotations

import functools

import pytest
import yaml

from tests.deploy.kustomize import MULTI_GPU, Doc, find
from train_svc.estimate.model_spec import ModelSpec
from train_svc.models.real_size import COMPONENTS

# builds the real model's configs on the meta device (a few seconds): the integration tier
pytestmark = pytest.mark.integration

GIB = 1 << 30
MARGIN = 16 * GIB
ROUNDING = 32 * GIB
BF16 = 2  # bytes per parameter
BINARY_SUFFIXES = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}


@functools.cache
def figures() -> tuple[int, int]:
    """(the generation pipeline's bytes, the frozen transformer's bytes), both bf16, from the estimator."""
    spec = ModelSpec.real()
    pipeline = sum(spec.parameters(component) for component in COMPONENTS) * BF16
    transformer, _ = spec.base_bytes("bf16", "bf16")
    return pipeline, transformer


def needed(gpus: int, shared_memory: int, *, generation: bool) -> int:
    pipeline, transformer = figures()
    total = (pipeline if generation else 0) + gpus * transformer + shared_memory + MARGIN
    return -(-total // ROUNDING) * ROUNDING


def quantity(value: str) -> int:
    """A memory quantity in bytes (the binary suffixes these manifests use)."""
    for suffix, factor in BINARY_SUFFIXES.items():
        if value.endswith(suffix):
            return int(value.removesuffix(suffix)) * factor
    return int(value)


def memory_volumes(pod: Doc) -> int:
    return sum(
        quantity(volume["emptyDir"]["sizeLimit"])
        for volume in pod.get("volumes", [])
        if volume.get("emptyDir", {}).get("medium") == "Memory"
    )


def check(pod: Doc, resources: Doc, *, generation: bool) -> None:
    requests, limits = resources["requests"], resources["limits"]
    assert requests == limits  # Guaranteed QoS
    gpus = int(limits["nvidia.com/gpu"])
    assert quantity(limits["memory"]) == needed(gpus, memory_volumes(pod), generation=generation), (
        f"{limits['memory']} for {gpus} GPU(s); the estimator's figures give "
        f"{needed(gpus, memory_volumes(pod), generation=generation) // GIB}Gi"
    )


def test_the_figures_are_the_ones_the_readme_states():
    pipeline, transformer = figures()
    assert (round(pipeline / GIB, 1), round(transformer / GIB, 1)) == (65.7, 35.4)


@pytest.mark.parametrize("variant", ["base", "prod", "prod-postgres-single", "one-node", "prod-one-node"])
def test_each_train_pod_with_gpus_has_the_memory_the_estimator_says(rendered, variant):
    pod = find(rendered[variant], "Deployment", "train")["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    check(pod, server["resources"], generation=True)


def test_the_trainjob_workers_have_the_memory_the_estimator_says():
    (job,) = [doc for doc in yaml.safe_load_all((MULTI_GPU / "trainjob.yaml").read_text()) if doc]
    (patch,) = job["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = node["template"]["spec"]["template"]["spec"]
    check(pod, job["spec"]["trainer"]["resourcesPerNode"], generation=False)
    assert (
        int(job["spec"]["trainer"]["resourcesPerNode"]["limits"]["nvidia.com/gpu"])
        == job["spec"]["trainer"]["numProcPerNode"]
    )


def test_dev_trains_the_tiny_preset_on_the_cpu_within_its_limit(rendered):
    """No GPU and the tiny random-weight preset: a few GiB, nowhere near the real model's figures."""
    (server,) = find(rendered["dev"], "Deployment", "train")["spec"]["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in server["resources"]["limits"]
    assert server["resources"]["requests"] == server["resources"]["limits"]
    assert quantity(server["resources"]["limits"]["memory"]) < figures()[1]
