"""What a user sets in one place and every object follows: the images (pinned by digest with one kustomize
`images:` edit), the storage class of the shared claims and the monitoring namespace (overlays/*/
parameters.yaml, copied by the overlays' `replacements`). Each is changed in a copy of deploy/kubernetes, or in
an overlay of one's own, and the render is looked at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.deploy.kustomize import (
    ALL_VARIANTS,
    BASE,
    KUBERNETES,
    OVERLAYS,
    OWN_OVERLAYS,
    SHIPPED,
    Doc,
    find,
    load_all,
    render,
)

# kubectl runs as a child process: the integration tier
pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "0123456789abcdef" * 4
THIRD_PARTY = {"postgres"}  # images of others' projects, named by their own tag (components/postgres-single)
SHARED_CLAIMS = ("ltx-storage", "ltx-models")


def base_images() -> dict[str, Doc]:
    """The base kustomization's `images:` entries by the name the manifests use."""
    return {image["name"]: image for image in yaml.safe_load((BASE / "kustomization.yaml").read_text())["images"]}


def containers(docs: list[Doc]) -> list[Doc]:
    return [
        container
        for doc in docs
        if doc["kind"] in ("Deployment", "StatefulSet")
        for container in doc["spec"]["template"]["spec"].get("initContainers", [])
        + doc["spec"]["template"]["spec"]["containers"]
    ]


def copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    return tree


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) == count, (path, old)
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_image_of_ours_is_named_by_the_base_images_list(rendered, variant):
    images = {f"{image['newName']}:{image['newTag']}" for image in base_images().values()}
    found = {c["image"] for c in containers(rendered[variant]) if c["image"].split(":")[0] not in THIRD_PARTY}
    assert found and found <= images


@pytest.mark.parametrize("variant", ["base", *SHIPPED])
def test_one_images_edit_pins_every_container_by_digest(tmp_path, variant):
    """The base's `images:` entries with `digest:` in place of `newTag:` (README: "Images"): every container of
    ours runs name@digest in every variant."""
    tree = copy_tree(tmp_path)
    kustomization = tree / "base" / "kustomization.yaml"
    (tag,) = {image["newTag"] for image in base_images().values()}  # one release of both
    edit(kustomization, f"    newTag: {tag}\n", f"    digest: {DIGEST}\n", count=len(base_images()))
    docs = render(tree / ("base" if variant == "base" else f"overlays/{variant}"))
    names = {image["newName"] for image in base_images().values()}
    ours = [c for c in containers(docs) if c["image"].split(":")[0] not in THIRD_PARTY]
    assert {c["image"] for c in ours} == {f"{name}@{DIGEST}" for name in names}


def test_an_overlay_of_ones_own_pins_the_images_by_digest(tmp_path, rendered):
    """Or, leaving the tree as it is, an overlay with one `images:` list over any variant."""
    names = [image["newName"] for image in base_images().values()]
    kustomization = {
        "resources": [os.path.relpath(OVERLAYS / "prod", tmp_path)],
        "images": [{"name": n, "digest": DIGEST} for n in names],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    ours = [c for c in containers(render(tmp_path)) if c["image"].split(":")[0] not in THIRD_PARTY]
    assert len(ours) == len(containers(rendered["prod"])) and {c["image"] for c in ours} == {
        f"{name}@{DIGEST}" for name in names
    }


def parameters(overlay: str) -> dict[str, str]:
    (config,) = load_all(OVERLAYS / overlay / "parameters.yaml")
    assert config["metadata"]["annotations"]["config.kubernetes.io/local-config"] == "true"
    return config["data"]


@pytest.mark.parametrize("variant", ["prod", "prod-postgres-single", "prod-one-node"])
def test_prod_gives_the_shared_claims_the_storage_class_parameter(rendered, variant):
    docs = rendered[variant]
    for claim in SHARED_CLAIMS:
        spec = find(docs, "PersistentVolumeClaim", claim)["spec"]
        assert (spec["storageClassName"], spec["accessModes"]) == (
            parameters("prod")["storageClassName"],
            ["ReadWriteMany"],
        )
    assert not [doc for doc in docs if doc["metadata"]["name"] == "deploy-parameters"]  # local-config: not applied


@pytest.mark.parametrize("variant", ["base", "dev", *(name for name in OWN_OVERLAYS if not name.startswith("prod"))])
def test_the_other_variants_leave_the_class_to_the_cluster(rendered, variant):
    for doc in rendered[variant]:
        if doc["kind"] == "PersistentVolumeClaim":
            assert "storageClassName" not in doc["spec"], doc["metadata"]["name"]


def test_the_storage_class_and_namespaces_are_set_in_one_place(tmp_path):
    tree = copy_tree(tmp_path)
    file = tree / "overlays" / "prod" / "parameters.yaml"
    values = parameters("prod")
    edit(file, f"storageClassName: {values['storageClassName']}\n", "storageClassName: efs-sc\n")
    edit(file, f"monitoringNamespace: {values['monitoringNamespace']}\n", "monitoringNamespace: observability\n")
    edit(file, f"cnpgOperatorNamespace: {values['cnpgOperatorNamespace']}\n", "cnpgOperatorNamespace: cnpg\n")
    for overlay in ("prod", "prod-postgres-single"):
        docs = render(tree / "overlays" / overlay)
        assert {find(docs, "PersistentVolumeClaim", claim)["spec"]["storageClassName"] for claim in SHARED_CLAIMS} == {
            "efs-sc"
        }
        assert namespace_peers(docs) == {"observability"} | ({"cnpg"} if overlay == "prod" else set())


def namespace_peers(docs: list[Doc]) -> set[str]:
    """The namespace names the NetworkPolicies admit by name."""
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for doc in docs
        if doc["kind"] == "NetworkPolicy"
        for rule in doc["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if "matchLabels" in peer.get("namespaceSelector", {})
    }


def test_dev_takes_its_monitoring_namespace_parameter(tmp_path, rendered):
    assert namespace_peers(rendered["dev"]) == {parameters("dev")["monitoringNamespace"]}
    tree = copy_tree(tmp_path)
    edit(
        tree / "overlays" / "dev" / "parameters.yaml", "monitoringNamespace: monitoring\n", "monitoringNamespace: obs\n"
    )
    assert namespace_peers(render(tree / "overlays" / "dev")) == {"obs"}
