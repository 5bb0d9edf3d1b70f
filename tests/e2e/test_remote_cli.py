"""The CLI against a service whose storage this machine cannot see: outputs arrive by DownloadArtifact.

"Not shared" is simulated by making every file look absent locally (train_svc.cli.download.local_copy_source
finds nothing), so the CLI must download each output; the bytes are compared with the service's files.
"""

from __future__ import annotations

import json
import re

import pytest

from shared.bundle import path_from_uri, sha256_file
from shared.demo_dataset import make_demo_dataset
from tests.lora_files import random_lora_state, write_test_lora
from train_svc.cli import download
from train_svc.cli import main as cli_main
from train_svc.cli.main import main
from train_svc.generation.store import GenerationStore
from train_svc.models.base_model import resolve_base_model
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration

SMALL = ["--num-frames", "9", "--resolution", "low", "--aspect-ratio", "16:9", "--steps", "2", "--prompt", "zqx a cat"]


@pytest.fixture(autouse=True)
def keep_test_logging(monkeypatch):
    """main() would point structlog at this test's captured stderr, closed once the test ends."""
    monkeypatch.setattr(cli_main, "configure_logging", lambda **kwargs: None)


@pytest.fixture(autouse=True)
def as_alice(services, monkeypatch):
    """The CLI calls the service as alice (LTX_TOKEN)."""
    monkeypatch.setenv("LTX_TOKEN", services.principals.tokens["alice"])


@pytest.fixture
def remote(monkeypatch) -> list[str]:
    """Make every output look absent from this machine; lists the URIs the CLI then had to download."""
    fetched: list[str] = []

    def nowhere_local(artifact):
        fetched.append(artifact.uri)
        return None

    monkeypatch.setattr(download, "local_copy_source", nowhere_local)
    return fetched


def test_train_with_target_downloads_every_output(services, remote, tmp_path, capsys):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "training_data_url": str(archive),
                "rank": 8,
                "number_of_steps": 100,
                "number_of_frames": 9,
                "resolution": "low",
                "aspect_ratio": "16:9",
            }
        )
    )
    out = tmp_path / "out"
    assert main(["train", str(request), "--out", str(out), "--target", services.training_target]) == 0
    err = capsys.readouterr().err
    files = {"lora.safetensors", "config.json", "dataset_report.json", "result.json", "loss.png"}
    assert {p.name for p in out.iterdir()} == files | {"tensorboard"}
    (events,) = (out / "tensorboard").iterdir()
    assert len(remote) == 6 and all(f"downloading {name}" in err for name in files | {events.name})
    job_id = re.search(r"created trainingJobs/(\w+)", err).group(1)
    outputs = services.storage / "jobs" / job_id / "outputs"
    for name in files - {"result.json"}:
        assert sha256_file(out / name) == sha256_file(outputs / name), name
    result = json.loads((out / "result.json").read_text())
    assert path_from_uri(result["lora_file"]["url"]) == (out / "lora.safetensors").resolve()
    assert result["lora_file"]["sha256"] == sha256_file(out / "lora.safetensors")


def test_generate_with_target_and_job_downloads_the_video(services, finished_job, remote, tmp_path, capsys):
    out = tmp_path / "tuned.mp4"
    assert (
        main(["generate", "--target", services.training_target, "--job", finished_job.name, *SMALL, "--out", str(out)])
        == 0
    )
    captured = capsys.readouterr()
    assert "step 2/2" in captured.err and "downloading tuned.mp4" in captured.err and len(remote) == 1
    generation = re.search(r"from (generations/\w+)", captured.out).group(1)
    stored = GenerationStore(services.storage).video_path("alice", generation.removeprefix("generations/"))
    assert out.read_bytes() == stored.read_bytes()


def test_generate_with_target_and_a_local_lora_says_it_must_be_a_file_of_yours_on_the_storage(
    services, tmp_path, capsys
):
    lora = write_test_lora(tmp_path / "lora.safetensors", random_lora_state(resolve_base_model(PRESET_NAME).path))
    out = tmp_path / "x.mp4"
    assert main(["generate", "--target", services.training_target, "--lora", str(lora), *SMALL, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "lora_file:" in err and "a LoRA file of yours on the service's storage" in err and "--job" in err
    assert not out.exists()
