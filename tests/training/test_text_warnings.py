"""Captions and validation prompts longer than the text encoder reads are reported, not cut silently."""

from __future__ import annotations

from shared.bundle_ref import BundleRef
from train_svc.job_run.text_warnings import overlong_text_warnings


def _bundle(sample_id: str, caption: str) -> BundleRef:
    return BundleRef(sample_id, "file:///unused", "0" * 64, 1, 9, 64, 64, 24.0, caption, sample_id.split("#")[0])


def test_each_sample_and_prompt_the_encoder_would_cut_gets_a_warning_naming_it(tiny_model):
    long_caption = "a red ball rolls " * 600  # far past 1,024 tokens
    bundles = [
        _bundle("b.mp4", "a short caption"),
        _bundle("a.mp4#shot2", long_caption),
        _bundle("a.mp4#shot1", long_caption),
    ]
    warnings = overlong_text_warnings(tiny_model.path, bundles, ["fine", "a cube " * 2000])
    assert [(w.path, w.code) for w in warnings] == [
        ("a.mp4", "CAPTION_TRUNCATED"),
        ("a.mp4", "CAPTION_TRUNCATED"),
        ("validation[1]", "CAPTION_TRUNCATED"),
    ]
    assert "a.mp4#shot1" in warnings[0].message and "reads its first 1,024" in warnings[0].message
    assert overlong_text_warnings(tiny_model.path, bundles[:1], ["fine"]) == []
