"""Finding the media of an extracted archive and pairing each file with its caption.

A caption is the .txt with the same base name in the same folder, so a/clip.mp4 and b/clip.mp4 are
distinct samples with their own captions. A dataset is all videos or all images, never both. A caption
longer than MAX_CAPTION_CHARS (far more than the text encoder's 1,024 tokens take) is cut there, with a
CAPTION_TRUNCATED warning; the training service warns again for captions its tokenizer cuts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from preprocess_svc.errors import DatasetError, DatasetReason
from preprocess_svc.events import DatasetWarning, MediaKind
from preprocess_svc.extract import is_ignored

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})
CAPTION_EXTENSION = ".txt"
MAX_CAPTION_CHARS = 8192
_CAPTION_READ_BYTES = 4 * MAX_CAPTION_CHARS + 4  # enough UTF-8 for MAX_CAPTION_CHARS characters, and a BOM


@dataclass(frozen=True)
class MediaSample:
    sample_id: str  # archive-relative path of the media file, e.g. "people/walk.mp4"
    path: Path  # the extracted file
    kind: MediaKind
    caption: str  # trigger phrase + caption text
    caption_path: str = ""  # archive-relative path of the paired .txt, "" when there is none
    caption_found: bool = False  # the .txt exists and is not empty


@dataclass(frozen=True)
class PairedDataset:
    kind: MediaKind
    samples: list[MediaSample]  # sorted by sample_id
    warnings: list[DatasetWarning]


def _kind_of(path: Path) -> MediaKind | None:
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    return None


def _read_caption(path: Path) -> tuple[str, str | None]:
    """The caption text, cut to MAX_CAPTION_CHARS, and how long it was when it had to be cut."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        data = fh.read(_CAPTION_READ_BYTES)
    text = data.decode("utf-8-sig", errors="replace").strip()
    if size > _CAPTION_READ_BYTES:
        return text[:MAX_CAPTION_CHARS].rstrip(), f"the caption file has {size:,} bytes"
    if len(text) > MAX_CAPTION_CHARS:
        return text[:MAX_CAPTION_CHARS].rstrip(), f"the caption has {len(text):,} characters"
    return text, None


def pair_media(root: Path, trigger_phrase: str) -> PairedDataset:
    """Pair every media file under root with its caption; raise DatasetError for mixed or missing media."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not is_ignored(p.relative_to(root).as_posix()))
    media = [(p, kind) for p in files if (kind := _kind_of(p)) is not None]
    captions = {p.with_suffix(""): p for p in files if p.suffix.lower() == CAPTION_EXTENSION}
    rel = {p: p.relative_to(root).as_posix() for p in files}

    videos = [rel[p] for p, kind in media if kind == "video"]
    images = [rel[p] for p, kind in media if kind == "image"]
    if videos and images:
        raise DatasetError(
            DatasetReason.MIXED_MEDIA,
            f"the archive mixes {len(videos)} video(s) and {len(images)} image(s) (e.g. {videos[0]!r} and "
            f"{images[0]!r}); a dataset must contain only videos or only images",
            files=[videos[0], images[0]],
        )
    if not media:
        others = [rel[p] for p in files]
        found = f"it holds {len(others)} other file(s), e.g. {others[:5]}" if others else "it holds no files"
        raise DatasetError(
            DatasetReason.NO_MEDIA,
            f"no videos ({', '.join(sorted(VIDEO_EXTENSIONS))}) or images ({', '.join(sorted(IMAGE_EXTENSIONS))}) "
            f"found in the archive; {found}",
            files=others[:20],
        )

    trigger = trigger_phrase.strip()
    warnings: list[DatasetWarning] = []
    samples: list[MediaSample] = []
    used_captions: set[Path] = set()
    for path, kind in media:
        caption_file = captions.get(path.with_suffix(""))
        text, too_long = _read_caption(caption_file) if caption_file else ("", None)
        if caption_file:
            used_captions.add(caption_file)
            if too_long is not None:
                message = (
                    f"{too_long}; it is cut to its first {MAX_CAPTION_CHARS:,} characters "
                    "(the text encoder reads at most 1,024 tokens)"
                )
                warnings.append(DatasetWarning(rel[caption_file], "CAPTION_TRUNCATED", message))
        if not text:
            why = f"{rel[caption_file]!r} is empty" if caption_file else f"no {path.stem}.txt beside it"
            trains_on = f"the trigger phrase {trigger!r}" if trigger else "an empty caption"
            warnings.append(DatasetWarning(rel[path], "NO_CAPTION", f"{why}; it trains on {trains_on}"))
        samples.append(
            MediaSample(
                sample_id=rel[path],
                path=path,
                kind=kind,
                caption=" ".join(t for t in (trigger, text) if t),
                caption_path=rel[caption_file] if caption_file else "",
                caption_found=bool(text),
            )
        )

    for caption_file in sorted(set(captions.values()) - used_captions):
        warnings.append(
            DatasetWarning(
                rel[caption_file], "ORPHAN_CAPTION", "no video or image with the same base name in its folder"
            )
        )
    for path in files:
        if _kind_of(path) is None and path.suffix.lower() != CAPTION_EXTENSION:
            warnings.append(
                DatasetWarning(rel[path], "IGNORED_FILE", "not a supported video, image or .txt caption file")
            )
    return PairedDataset(kind=media[0][1], samples=samples, warnings=warnings)
