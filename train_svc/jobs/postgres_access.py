"""How the shared store's calls meet an unreachable database: StoreUnavailable (retryable), with the
database's URL in messages and logs never showing its password."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import PoolTimeout

from train_svc.jobs.store_contract import StoreUnavailable


def redacted(url: str) -> str:
    """`url` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


F = TypeVar("F", bound=Callable[..., Any])


def reachable(method: F) -> F:
    """`method`, with the database unreachable (or the pool exhausted) raised as StoreUnavailable."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(redacted(self.url), exc) from exc

    return cast(F, wrapper)
