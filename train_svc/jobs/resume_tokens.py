"""Resume tokens of the collection watch (WatchTrainingJobs): opaque to clients, a change position inside.

A token names the last change a client has seen; a watch resumed from it, on any replica, sends every
change after it. A token older than the oldest change the store keeps is OUT_OF_RANGE (list and watch
again without one); one this store never gave out is INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii

from shared.request.errors import DomainError, ErrorCode, FieldViolation, InvalidRequest

MAX_TOKEN_CHARS = 128
_PREFIX = "changes.v1:"
_REASON = "INVALID_WATCH_REQUEST"


class TokenTooOld(DomainError):
    def __init__(self, position: int, oldest: int):
        message = (
            f"resume_token is older than the changes this service keeps (it names change {position}; the "
            f"oldest kept follows {oldest}): watch again without resume_token to list the jobs afresh"
        )
        super().__init__(ErrorCode.OUT_OF_RANGE, "RESUME_TOKEN_EXPIRED", message, {"oldest": str(oldest)})


def token(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{position}".encode()).decode()


def _bad(why: str) -> InvalidRequest:
    return InvalidRequest([FieldViolation("resume_token", why)], reason=_REASON)


def position_of(text: str, bounds: tuple[int, int]) -> int:
    """The change position `text` names, checked against the store's (oldest - 1, newest) positions."""
    if len(text) > MAX_TOKEN_CHARS:
        raise _bad(f"is longer than {MAX_TOKEN_CHARS} characters; pass a resume_token unchanged")
    try:
        decoded = base64.urlsafe_b64decode(text.encode()).decode()
        if not decoded.startswith(_PREFIX):
            raise ValueError(decoded)
        position = int(decoded.removeprefix(_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad("is not a token this service gave out (pass resume_token unchanged)") from None
    oldest, newest = bounds
    if position > newest or position < 0:
        raise _bad(f"names change {position}, beyond the newest ({newest}): it is not from this service's store")
    if position < oldest:
        raise TokenTooOld(position, oldest)
    return position
