"""Builds the per-file dataset report of a run from pairing and from the workers' outcomes.

A file's report is complete when its last outcome is in: at once for a plain file, after its last
shot for a clip that was cut into shots. A split clip is USED when at least one shot gave a sample
(the others are listed as skipped parts), and SKIPPED with the shots' reason when none did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from preprocess_svc.events import BundleWritten, DatasetWarning, SkippedFile
from preprocess_svc.pairing import MediaSample
from preprocess_svc.sample_worker import ShotPlan, shot_sample_id, source_facts
from shared.dataset_report import FileOutcome, FileReport, PartSkipped, SampleFacts, SourceFacts

_IGNORED_CODES = frozenset({"ORPHAN_CAPTION", "IGNORED_FILE"})
_PARTS_IN_MESSAGE = 3  # a skipped clip's message quotes its first shots' reasons; skipped_parts has all
TOO_MANY_SHOTS = "TOO_MANY_SHOTS"


def ignored_files(warnings: list[DatasetWarning]) -> list[FileReport]:
    """The archive's files that are not media (orphan captions, unsupported files), one report each."""
    return [
        FileReport(path=w.path, outcome=FileOutcome.IGNORED, reason=w.code, message=w.message)
        for w in warnings
        if w.code in _IGNORED_CODES
    ]


@dataclass
class _SplitClip:
    source: SourceFacts
    cuts_s: tuple[float, ...]
    waiting: set[str]  # sample ids of shots not yet done
    samples: list[SampleFacts] = field(default_factory=list)
    skipped: list[PartSkipped] = field(default_factory=list)


class ReportBuilder:
    def __init__(self, samples: list[MediaSample]):
        self._media = {s.sample_id: s for s in samples}
        self._splits: dict[str, _SplitClip] = {}
        self._shot_owner: dict[str, str] = {}  # shot sample id -> clip path

    def split(self, plan: ShotPlan) -> None:
        shots = {shot.sample_id for shot in plan.shots}
        first = plan.shots[0]
        clip = self._splits[plan.sample_id] = _SplitClip(source_facts(first.info), first.cuts_s, shots)
        self._shot_owner.update(dict.fromkeys(shots, plan.sample_id))
        if plan.dropped:
            used = len(plan.shots)
            clip.skipped.append(
                PartSkipped(
                    f"{shot_sample_id(plan.sample_id, used + 1)}..{used + plan.dropped}",
                    TOO_MANY_SHOTS,
                    f"the clip has {used + plan.dropped} shots; the {plan.dropped} from {plan.dropped_from_s:.2f} s "
                    f"on are not used (at most {used} shots of one clip are)",
                )
            )

    def outcome(self, outcome: BundleWritten | SkippedFile) -> FileReport | None:
        """Record a worker's outcome; return the file's report if this completes it."""
        sample_id = outcome.sample_id if isinstance(outcome, BundleWritten) else outcome.path
        clip_path = self._shot_owner.pop(sample_id, None)
        if clip_path is None:
            return self._plain(outcome)
        clip = self._splits[clip_path]
        clip.waiting.discard(sample_id)
        if isinstance(outcome, BundleWritten):
            clip.samples.append(outcome.facts)
        else:
            clip.skipped.append(PartSkipped(outcome.path, outcome.reason, outcome.message))
        if clip.waiting:
            return None
        del self._splits[clip_path]
        return self._split_report(clip_path, clip)

    def _base(self, path: str) -> dict:
        media = self._media[path]
        return {
            "path": path,
            "media_kind": media.kind,
            "caption_path": media.caption_path,
            "caption_found": media.caption_found,
        }

    def _plain(self, outcome: BundleWritten | SkippedFile) -> FileReport:
        if isinstance(outcome, BundleWritten):
            return FileReport(
                **self._base(outcome.source_path),
                outcome=FileOutcome.USED,
                source=outcome.source,
                samples=(outcome.facts,),
            )
        return FileReport(
            **self._base(outcome.path),
            outcome=FileOutcome.SKIPPED,
            reason=outcome.reason,
            message=outcome.message,
            source=outcome.source,
        )

    def _split_report(self, path: str, clip: _SplitClip) -> FileReport:
        samples = tuple(sorted(clip.samples, key=lambda s: s.start_s))
        skipped = tuple(sorted(clip.skipped, key=lambda p: p.sample_id))
        common = {**self._base(path), "source": clip.source, "scene_cuts_s": clip.cuts_s, "skipped_parts": skipped}
        if samples:
            return FileReport(**common, outcome=FileOutcome.USED, samples=samples)
        reasons = sorted({p.reason for p in skipped})
        shown = "; ".join(f"{p.sample_id}: {p.message}" for p in skipped[:_PARTS_IN_MESSAGE])
        more = (
            f"; and {len(skipped) - _PARTS_IN_MESSAGE} more (skipped_parts)" if len(skipped) > _PARTS_IN_MESSAGE else ""
        )
        return FileReport(
            **common,
            outcome=FileOutcome.SKIPPED,
            reason=reasons[0] if len(reasons) == 1 else "NO_USABLE_SHOT",
            message=f"none of its {len(skipped)} shots gave a sample: {shown}{more}",
        )
