"""Request settings this version cannot honour yet, said out loud rather than silently dropped.

`with_audio: true` asks for something we cannot deliver, so the request is refused (UNIMPLEMENTED).
The other settings below still leave a useful run; the job starts with one notice per setting that
is not applied, as a warning event with code NOT_APPLIED_YET and the field name as its path.
"""

from __future__ import annotations

from shared.request.errors import DomainError, ErrorCode
from train_svc.jobs.events import DatasetWarning

NOT_APPLIED = "NOT_APPLIED_YET"


def refuse_unsupported(settings) -> None:
    if settings.with_audio is True:
        raise DomainError(
            ErrorCode.UNIMPLEMENTED,
            "AUDIO_TRAINING_UNAVAILABLE",
            "with_audio: true asks for joint audio training, which this service does not offer yet; "
            "leave with_audio unset or false to train video only",
            {"field": "with_audio"},
        )


def notices(settings) -> list[DatasetWarning]:
    out = []
    if settings.with_audio is None:
        out.append(
            DatasetWarning("with_audio", NOT_APPLIED, "audio training is not available yet: this run trains video only")
        )
    if settings.validation:
        out.append(
            DatasetWarning("validation", NOT_APPLIED, "validation previews are not rendered yet: no preview reel")
        )
    return out
