"""The dataset report as a plain-text table: one row per file of the archive, then the totals."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shared.dataset_report import DatasetReport, FileOutcome, FileReport

_HEADER = ("file", "result", "samples", "frames", "fps", "size", "cuts", "caption", "audio", "why")
_MAX_PATH = 40


def _fps(value: float) -> str:
    return f"{value:.3g}" if value else "-"


def _joined(values: Iterable[str]) -> str:
    distinct = list(dict.fromkeys(values))
    return ",".join(distinct) if distinct else "-"


def _row(report: FileReport) -> tuple[str, ...]:
    path = report.path if len(report.path) <= _MAX_PATH else "..." + report.path[-(_MAX_PATH - 3) :]
    outcome = report.outcome.value.lower()
    if report.outcome is FileOutcome.IGNORED:
        return (path, outcome, "-", "-", "-", "-", "-", "-", "-", report.reason)
    src, samples = report.source, report.samples
    before_fps = _fps(src.fps) if src else "?"
    before_size = f"{src.width}x{src.height}" if src else "?"
    after_fps = _joined(_fps(s.fps) for s in samples if s.fit != "image")
    after_size = _joined(f"{s.width}x{s.height}" for s in samples)
    why = report.reason
    if report.skipped_parts:
        why = f"{len(report.skipped_parts)} shot(s) skipped: {_joined(p.reason for p in report.skipped_parts)}"
    return (
        path,
        outcome,
        str(len(samples)),
        _joined(str(s.frames) for s in samples),
        f"{before_fps}->{after_fps}" if samples and report.media_kind == "video" else before_fps,
        f"{before_size}->{after_size}" if samples else before_size,
        str(len(report.scene_cuts_s)),
        "yes" if report.caption_found else ("empty" if report.caption_path else "no"),
        ("yes" if src.has_audio else "no") if src else "?",
        why,
    )


def aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows (the first the header) as lines aligned in columns, a rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def render(report: DatasetReport) -> str:
    """The table, aligned in columns, with a totals line."""
    lines = aligned([_HEADER, *(_row(f) for f in report.files)])
    lines.append(
        f"{len(report.files)} files: {report.count(FileOutcome.USED)} used, {report.count(FileOutcome.SKIPPED)} "
        f"skipped, {report.count(FileOutcome.IGNORED)} ignored; {report.samples} samples"
    )
    return "\n".join(lines)
