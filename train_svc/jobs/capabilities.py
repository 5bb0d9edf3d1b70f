"""Request settings this version cannot honour yet, said out loud rather than silently dropped.

They still leave a useful run: the job starts with one notice per setting that is not applied, as a
warning event with code NOT_APPLIED_YET and the field name as its path.
"""

from __future__ import annotations

from train_svc.jobs.events import DatasetWarning

NOT_APPLIED = "NOT_APPLIED_YET"


def notices(settings) -> list[DatasetWarning]:
    out = []
    if settings.validation:
        out.append(
            DatasetWarning("validation", NOT_APPLIED, "validation previews are not rendered yet: no preview reel")
        )
    return out
