"""Pairing media with captions: same folder, same base name; one kind of media per dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from preprocess_svc.errors import DatasetError, DatasetReason
from preprocess_svc.pairing import pair_media


def tree(root: Path, files: dict[str, str]) -> Path:
    """Create files (content is text; media content does not matter to pairing)."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_same_named_clips_in_different_folders_are_distinct_samples_with_their_own_captions(
    tmp_path: Path,
) -> None:
    root = tree(
        tmp_path,
        {"set_a/clip.mp4": "", "set_a/clip.txt": "a red car", "set_b/clip.mp4": "", "set_b/clip.txt": "a blue boat"},
    )

    dataset = pair_media(root, trigger_phrase="")

    assert [(s.sample_id, s.caption) for s in dataset.samples] == [
        ("set_a/clip.mp4", "a red car"),
        ("set_b/clip.mp4", "a blue boat"),
    ]
    assert dataset.kind == "video"
    assert dataset.warnings == []


def test_trigger_phrase_is_prepended_to_the_stripped_caption(tmp_path: Path) -> None:
    root = tree(tmp_path, {"walk.MOV": "", "walk.txt": "\ufeff  a man walks a dog \n"})

    (sample,) = pair_media(root, trigger_phrase=" tr1gg3r ").samples

    assert sample.caption == "tr1gg3r a man walks a dog"
    assert sample.path == root / "walk.MOV"


@pytest.mark.parametrize(("trigger", "expected"), [("tr1gg3r", "tr1gg3r"), ("", "")])
def test_media_without_caption_trains_on_the_trigger_phrase_and_is_warned_about(
    tmp_path: Path, trigger: str, expected: str
) -> None:
    root = tree(tmp_path, {"people/run.webm": "", "people/empty.mkv": "", "people/empty.txt": "  \n"})

    dataset = pair_media(root, trigger_phrase=trigger)

    assert [s.caption for s in dataset.samples] == [expected, expected]
    assert [(w.path, w.code) for w in dataset.warnings] == [
        ("people/empty.mkv", "NO_CAPTION"),
        ("people/run.webm", "NO_CAPTION"),
    ]
    assert "'people/empty.txt' is empty" in dataset.warnings[0].message


def test_caption_in_another_folder_does_not_pair_and_is_reported_as_orphan(tmp_path: Path) -> None:
    root = tree(tmp_path, {"a/clip.mp4": "", "b/clip.txt": "lost caption", "notes.pdf": "x"})

    dataset = pair_media(root, trigger_phrase="")

    assert dataset.samples[0].caption == ""
    assert [(w.path, w.code) for w in dataset.warnings] == [
        ("a/clip.mp4", "NO_CAPTION"),
        ("b/clip.txt", "ORPHAN_CAPTION"),
        ("notes.pdf", "IGNORED_FILE"),
    ]


def test_images_make_an_image_dataset(tmp_path: Path) -> None:
    root = tree(tmp_path, {"cat.PNG": "", "cat.txt": "a cat", "dog.jpeg": "", "dog.txt": "a dog", "x.JPG": ""})

    dataset = pair_media(root, trigger_phrase="")

    assert dataset.kind == "image"
    assert [s.sample_id for s in dataset.samples] == ["cat.PNG", "dog.jpeg", "x.JPG"]
    assert all(s.kind == "image" for s in dataset.samples)


def test_mixing_images_and_videos_is_refused_with_counts_and_examples(tmp_path: Path) -> None:
    root = tree(tmp_path, {"a.mp4": "", "b.avi": "", "c.png": ""})

    with pytest.raises(DatasetError) as info:
        pair_media(root, trigger_phrase="")

    assert info.value.reason == DatasetReason.MIXED_MEDIA
    assert "2 video(s) and 1 image(s)" in info.value.message
    assert info.value.files == ["a.mp4", "c.png"]


def test_archive_without_media_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path, {"readme.md": "hello", "clip.txt": "caption"})

    with pytest.raises(DatasetError) as info:
        pair_media(root, trigger_phrase="")

    assert info.value.reason == DatasetReason.NO_MEDIA
    assert "2 other file(s)" in info.value.message
