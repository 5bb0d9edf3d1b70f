"""A grpc-js client, given nothing but protos/ and a bearer token, trains a LoRA and follows it.

tests/clients/node/train_and_watch.js loads the .proto files at run time with @grpc/proto-loader (the
googleapis protos from the google-proto-files package) and talks plaintext to the session's services,
which have authentication on. Its node packages are installed from the lock file on first use; a missing
npm or a failed install fails the test rather than skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.demo_dataset import make_demo_dataset

pytestmark = pytest.mark.integration

CLIENT_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
SCRIPT = CLIENT_DIR / "train_and_watch.js"
NPM_TIMEOUT = 600
RUN_TIMEOUT = 300

UNAUTHENTICATED = 16
NOT_FOUND = 5


def _installed() -> bool:
    manifest = json.loads((CLIENT_DIR / "package.json").read_text())
    modules = CLIENT_DIR / "node_modules"
    return all((modules / name / "package.json").is_file() for name in manifest["dependencies"])


@pytest.fixture(scope="module")
def node_client() -> Path:
    """The client script, its packages installed (once, with `npm ci`) if they are not there yet."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm must be on PATH to test the grpc-js client")
    if not _installed():
        # --ignore-scripts: the only install script in the tree (protobufjs's) just prints version advice.
        command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
        try:
            done = subprocess.run(command, cwd=CLIENT_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"`npm ci` did not finish in {NPM_TIMEOUT}s:\n{exc.stdout or ''}\n{exc.stderr or ''}")
        if done.returncode != 0 or not _installed():
            pytest.fail(f"`npm ci` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return SCRIPT


@dataclass
class Run:
    returncode: int
    lines: list[dict]
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def _run_client(script: Path, target: str, *args: str, token: str | None) -> Run:
    env = {key: value for key, value in os.environ.items() if key != "LTX_TOKEN"}
    if token is not None:
        env["LTX_TOKEN"] = token
    done = subprocess.run(
        ["node", str(script), target, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env
    )
    try:
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        pytest.fail(f"the client printed something that is not a JSON line ({exc}):\n{done.stdout}\n{done.stderr}")
    return Run(done.returncode, lines, done.stdout, done.stderr)


def _request(archive: Path) -> str:
    return json.dumps(
        {
            "training_data_url": str(archive),
            "rank": 8,
            "number_of_steps": 100,
            "number_of_frames": 9,
            "resolution": "RESOLUTION_LOW",
            "aspect_ratio": "ASPECT_RATIO_16_9",
        }
    )


@pytest.fixture(scope="module")
def alice_run(services, node_client, tmp_path_factory) -> Run:
    """alice's job, created and followed to its end by the node client."""
    folder = tmp_path_factory.mktemp("node-client")  # under pytest's base temp: a folder the services may read
    archive = make_demo_dataset(folder / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    return _run_client(
        node_client, services.training_target, _request(archive), token=services.principals.tokens["alice"]
    )


def test_node_client_trains_and_watches_a_job(alice_run):
    run = alice_run
    assert run.returncode == 0, run
    *events, last = run.lines
    assert set(last) == {"final"}, run
    assert all("sequence" in event and "kind" in event for event in events), run

    sequences = [int(event["sequence"]) for event in events]
    assert sequences == list(range(1, len(events) + 1)), sequences
    kinds = [event["kind"] for event in events]
    assert "heartbeat" not in kinds
    assert {"state_change", "file_report", "sample_encoded", "step", "artifact"} <= set(kinds), kinds
    steps = [event["step"] for event in events if event["kind"] == "step"]
    assert [step["step"] for step in steps] == list(range(1, 101))
    assert all(step["total_steps"] == 100 for step in steps)
    states = [event["state_change"]["state"] for event in events if event["kind"] == "state_change"]
    assert states[-1] == "STATE_SUCCEEDED", states

    final = last["final"]
    assert final["name"].startswith("trainingJobs/")
    assert final["state"] == "STATE_SUCCEEDED", final
    assert final["billable_units"] == "100"  # int64 as a string: the loader's longs=String


def test_node_client_is_refused_without_a_token_and_by_another_tenant(services, node_client, alice_run, tmp_path):
    assert alice_run.returncode == 0, alice_run
    name = alice_run.lines[-1]["final"]["name"]
    target = services.training_target
    tokens = services.principals.tokens

    own = _run_client(node_client, target, "get", name, token=tokens["alice"])
    assert own.returncode == 0, own
    assert own.lines[0]["job"]["name"] == name
    assert own.lines[0]["job"]["state"] == "STATE_SUCCEEDED"

    # Refused before anything is read, so the archive need not exist.
    anonymous = _run_client(node_client, target, _request(tmp_path / "clips.zip"), token=None)
    assert anonymous.returncode == 1, anonymous
    assert len(anonymous.lines) == 1, anonymous
    assert anonymous.lines[0]["error"]["code"] == UNAUTHENTICATED, anonymous

    anonymous_get = _run_client(node_client, target, "get", name, token=None)
    assert anonymous_get.returncode == 1, anonymous_get
    assert anonymous_get.lines[0]["error"]["code"] == UNAUTHENTICATED, anonymous_get

    bob = _run_client(node_client, target, "get", name, token=tokens["bob"])
    assert bob.returncode == 1, bob
    assert bob.lines[0]["error"]["code"] == NOT_FOUND, bob
