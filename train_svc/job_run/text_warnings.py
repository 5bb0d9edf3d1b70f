"""CAPTION_TRUNCATED warnings for the captions and validation prompts the text encoder will cut."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shared.bundle_ref import BundleRef
from train_svc.jobs.events import DatasetWarning
from train_svc.training.text_length import overlong_texts

CAPTION_TRUNCATED = "CAPTION_TRUNCATED"


def overlong_text_warnings(
    model_path: Path, bundles: Sequence[BundleRef], validation: Sequence[str]
) -> list[DatasetWarning]:
    """One warning per sample whose caption is over the token limit (by sample id), then one per prompt
    (path "validation[i]")."""
    prompts = {f"validation[{i}]": prompt for i, prompt in enumerate(validation)}
    limit, overlong = overlong_texts(model_path, [b.caption for b in bundles] + list(prompts.values()))
    warnings = [
        DatasetWarning(
            bundle.source_path,
            CAPTION_TRUNCATED,
            f"the caption of {bundle.sample_id} is {overlong[bundle.caption]:,} tokens long; the text encoder "
            f"reads its first {limit:,}",
        )
        for bundle in sorted(bundles, key=lambda b: b.sample_id)
        if bundle.caption in overlong
    ]
    warnings += [
        DatasetWarning(
            where,
            CAPTION_TRUNCATED,
            f"the prompt is {overlong[prompt]:,} tokens long; the text encoder reads its first {limit:,}",
        )
        for where, prompt in prompts.items()
        if prompt in overlong
    ]
    return warnings
