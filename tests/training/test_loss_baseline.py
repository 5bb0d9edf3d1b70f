"""The training numerics of the tiny preset have not moved: a short joint audio-video run of the real
trainer gives, step by step, the losses and learning rates stored in tests/assets/loss_baseline_tiny.json.

Any change to what a training step computes (noise-level sampling, noising, the transformer call, the
loss, clipping, the optimizer or its schedule, LoRA targets or initialisation, the data order, the
encoders, the preset) fails here, naming the first step that differs. If the change is intended,
re-record the file (tests/training/record_loss_baseline.py says how) and say so in the change.

Tolerance, measured on the recording machine (x86_64, AVX512): repeated runs agree bit for bit; with
2 torch threads instead of 1, or with ATEN_CPU_CAPABILITY=avx2 or =default (other summation orders and
kernels, as on another CPU), no step's losses moved by more than ~2e-7 relative and no input fingerprint
by more than 5e-7. A 0.1% change of the learning rate moves the losses by ~1.2e-4 relative (past 1e-4
from step 6), a 1% change by ~1.2e-3 (from step 3). RTOL = 1e-4 is 200x the noise of other kernels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.training import record_loss_baseline as baseline
from train_svc.training.audio_encoding import AudioEncoder

RTOL = 1e-4


def _stored() -> dict:
    return json.loads(baseline.BASELINE.read_text())


def _how_to_rerecord(stored: dict) -> str:
    recorded, now = stored["versions"]["torch"], torch.__version__
    versions = f"recorded with torch {recorded}, running torch {now}" + (" (differs)" if recorded != now else "")
    return (
        f"{versions}. If the change to the training numerics is intended, re-record with "
        f"`{baseline.RECORD_COMMAND}` and commit tests/assets/{baseline.BASELINE.name} with the change."
    )


def _first_difference(expected: list[dict[str, float]], got: list[dict[str, float]]) -> str | None:
    """A sentence about the first step where any column differs by more than RTOL, or None."""
    if [row["step"] for row in got] != [row["step"] for row in expected]:
        return f"the run trained steps {[row['step'] for row in got]}, the recording has {len(expected)} steps"
    for want_row, have_row in zip(expected, got, strict=True):
        for column in baseline.COLUMNS:
            want, have = want_row[column], have_row[column]
            if not np.isclose(have, want, rtol=RTOL, atol=0.0):
                relative = abs(have - want) / abs(want) if want else float("inf")
                return (
                    f"step {want_row['step']} of {len(expected)} is the first to differ: {column} {have!r}, "
                    f"recorded {want!r} (relative difference {relative:.2e} > rtol {RTOL:g})"
                )
    return None


@pytest.fixture(scope="module")
def samples(tiny_model, placement, video_encoder, caption_encoder):
    audio_encoder = AudioEncoder(tiny_model.path, placement)
    try:
        return baseline.make_samples(video_encoder, caption_encoder, audio_encoder)
    finally:
        audio_encoder.close()


def _check_recipe(stored: dict) -> None:
    assert stored["recipe"] == json.loads(json.dumps(baseline.recipe())), (
        "the recipe in tests/training/record_loss_baseline.py is not the one the stored baseline was recorded "
        "with; " + _how_to_rerecord(stored)
    )


def test_the_stored_baseline_matches_the_recipe_it_claims() -> None:
    stored = _stored()
    _check_recipe(stored)
    assert [row["step"] for row in stored["steps"]] == list(range(1, baseline.CONFIG.steps + 1))


@pytest.mark.integration  # a 36-step joint audio-video training run: ~5-7 s
def test_training_reproduces_the_stored_per_step_losses(tiny_model, placement, samples) -> None:
    stored = _stored()
    _check_recipe(stored)
    fingerprint = baseline.input_fingerprint(samples)
    changed_inputs = [
        name
        for name, value in stored["input_fingerprint"].items()
        if not np.isclose(fingerprint[name], value, rtol=RTOL, atol=0.0)
    ]

    got = baseline.train(tiny_model.path, placement, samples)

    difference = _first_difference(stored["steps"], got)
    if difference is not None:
        cause = (
            f" The encoded inputs changed too ({', '.join(changed_inputs)}): the encoders or the preset moved."
            if changed_inputs
            else " The encoded inputs are as recorded: the training step itself changed."
        )
        pytest.fail(f"training numerics changed: {difference}.{cause} {_how_to_rerecord(stored)}", pytrace=False)
    assert not changed_inputs, f"encoded inputs changed ({changed_inputs}) yet the losses did not; " + (
        _how_to_rerecord(stored)
    )
