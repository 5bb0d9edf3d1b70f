"""What watchers on this replica follow: one log per watched job, fed from the job store.

However many watchers follow a job here, the replica holds one copy of its events (from the earliest
sequence number a watcher asked for) and reads each new event from the store once, when the store's
notice says it is there: the replica that runs the job may be this one or another. A feed lives while
someone follows it, and closes once the job's final state is in it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from train_svc.jobs.event_log import EventLog
from train_svc.jobs.events import StateChanged
from train_svc.jobs.store_contract import JobStore, Notice, NoticeKind


@dataclass
class _Feed:
    log: EventLog
    users: int = 1


class JobFeeds:
    def __init__(self, store: JobStore):
        self._store = store
        self._lock = threading.Lock()
        self._feeds: dict[str, _Feed] = {}
        self._interrupted = False
        self._unsubscribe = store.notices.subscribe(self._on_notice)

    @asynccontextmanager
    async def following(self, job_id: str, after: int) -> AsyncIterator[EventLog]:
        """The job's feed, holding at least the events after `after` (the caller checked that many exist)."""
        log = await asyncio.to_thread(self._acquire, job_id, after)
        try:
            yield log
        finally:
            self._release(job_id)

    def _acquire(self, job_id: str, after: int) -> EventLog:
        with self._lock:
            feed = self._feeds.get(job_id)
            if feed is not None:
                feed.users += 1
        if feed is None:
            fresh = EventLog(self._store.events(job_id, after), base=after)
            with self._lock:
                feed = self._feeds.get(job_id)  # another watcher may have made it meanwhile
                if feed is None:
                    feed = self._feeds[job_id] = _Feed(fresh)
                    if self._interrupted:
                        fresh.interrupt()
                else:
                    feed.users += 1
        if after < feed.log.base:  # another watcher's feed, from later on
            feed.log.backfill(self._store.events(job_id, after, limit=feed.log.base - after))
        self._refresh(job_id, feed.log)  # what was stored while it was read
        return feed.log

    def _release(self, job_id: str) -> None:
        with self._lock:
            feed = self._feeds.get(job_id)
            if feed is not None:
                feed.users -= 1
                if feed.users == 0:
                    del self._feeds[job_id]

    def _refresh(self, job_id: str, log: EventLog) -> None:
        """Add what the store holds beyond the feed; close it once the job's final state is in it."""
        newer = self._store.events(job_id, after=log.last_sequence)
        log.extend(newer)
        if newer:  # retention's FilesRemoved events may follow the final state
            final = any(isinstance(logged.event, StateChanged) and logged.event.state.is_final for logged in newer)
        else:  # a deleted job's feed ends too
            stored = self._store.job(job_id)
            final = stored is None or (stored.state.is_final and stored.last_sequence <= log.last_sequence)
        if final:
            log.close()

    def _on_notice(self, notice: Notice) -> None:
        with self._lock:
            if notice.kind is NoticeKind.RESYNC:
                feeds = list(self._feeds.items())
            elif notice.kind in (NoticeKind.EVENT, NoticeKind.DELETED) and notice.job_id in self._feeds:
                feeds = [(notice.job_id, self._feeds[notice.job_id])]
            else:
                return
        for job_id, feed in feeds:
            if notice.kind is not NoticeKind.EVENT or notice.sequence > feed.log.last_sequence:
                self._refresh(job_id, feed.log)

    def interrupt_all(self) -> None:
        """End every follow once it has caught up: the service is stopping."""
        with self._lock:
            self._interrupted = True
            feeds = list(self._feeds.values())
        for feed in feeds:
            feed.log.interrupt()

    def close(self) -> None:
        self._unsubscribe()
