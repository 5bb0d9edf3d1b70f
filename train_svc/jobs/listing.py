"""Pages of the job list (AIP-158): newest first, with an opaque token naming where the next page starts.

A token holds the creation number of the last job on its page, so jobs created while a client pages
through do not shift the pages it has yet to read. A page holds at most `page_size` jobs and at most
MAX_PAGE_WEIGHT bytes of them (as `weigh` counts them), so no page exceeds what a default client
accepts (4 MiB); it always holds at least one job, and each job's own size is bounded elsewhere.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.request.errors import FieldViolation, InvalidRequest

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_PAGE_WEIGHT = 3 * 1024 * 1024
MAX_TOKEN_CHARS = 128
_TOKEN_PREFIX = "jobs.v1:"
_REASON = "INVALID_LIST_REQUEST"

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str  # "" on the last page


def _token(number: int) -> str:
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{number}".encode()).decode()


def _bad_token() -> InvalidRequest:
    return InvalidRequest(
        [FieldViolation("page_token", "is not a token this service gave out (pass next_page_token unchanged)")],
        reason=_REASON,
    )


def _number(token: str) -> int:
    if len(token) > MAX_TOKEN_CHARS:
        raise _bad_token()
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if not text.startswith(_TOKEN_PREFIX):
            raise ValueError(text)
        return int(text.removeprefix(_TOKEN_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_token() from None


def page_request(page_size: int, page_token: str) -> tuple[int, int | None]:
    """(the page's size, the creation number its jobs are below, None for the first page)."""
    if page_size < 0:
        raise InvalidRequest([FieldViolation("page_size", f"must be >= 0 (got {page_size})")], reason=_REASON)
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE), _number(page_token) if page_token else None


def page_of(rows: Sequence[tuple[int, T | None]], size: int, weigh: Callable[[T], int] = lambda item: 0) -> Page[T]:
    """A page from `rows` ((creation number, item) newest first, at least size + 1 when there are more; an
    item None is one that cannot be shown, passed over) and the token of the page after it."""
    items: list[T] = []
    weight = 0
    consumed = 0
    for _, item in rows[:size]:
        if item is not None:
            weight += weigh(item)
            if items and weight > MAX_PAGE_WEIGHT:
                break
            items.append(item)
        consumed += 1
    more = len(rows) > consumed
    return Page(items, _token(rows[consumed - 1][0]) if more and consumed else "")
