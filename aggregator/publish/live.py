"""The documents the web server hands out, kept in step with the event log.

`Publisher` catches the read model up with the log and has the catalog's
documents (`publish.documents`) brought up to date when the log moved, at
most every `min_refresh` seconds however many requests come; it writes the
same bytes to the output directory (atomically) as it serves, so the files
on disk and the documents served never disagree. The last edition, and the
last rendering of any other document, stand in while the database is
unavailable: a reader gets the feed as it was, never an error, and the
health check is what reports the outage.

A reader never waits on a render. A request that finds the edition stale
asks for a refresh on the publisher's own thread and waits `reader_wait`
(half a second) for it; if the refresh is not done by then (another render
holds the lock: a huge source once made requests wait 30 s), it gets the
last edition, and the next request after the refresh gets the new one.

WebSub: when `[feed] hub` is set, each refresh that changed a topic's bytes
(`catalog.Row.topic`) hands the changed documents' URLs to a `HubNotifier`,
which pings the hub in the background. The first edition of a process has
no previous document to compare with, so it compares with the files in
`output_dir`: a restart pings for what changed while it was down, or under
a new configuration, and for nothing else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as StillRendering
from datetime import datetime

from aggregator.config import Settings
from aggregator.core.errors import StoreUnavailable
from aggregator.publish import catalog
from aggregator.publish.catalog import Address
from aggregator.publish.documents import Document, Documents, Edition
from aggregator.publish.websub import HubNotifier
from aggregator.store.base import EventLog, ReadModel
from aggregator.store.catchup import catch_up

logger = logging.getLogger("aggregator.publish")


class Publisher:
    """Keeps the catalog's documents in step with the log; safe to call from
    the scheduler's threads and the web server's at once (one refresh at a
    time, readers never wait on it for a cached edition)."""

    def __init__(
        self,
        settings: Settings,
        log: EventLog,
        model: ReadModel,
        clock: Callable[[], datetime],
        on_render: Callable[[float], None] = lambda seconds: None,
        write_files: bool = True,
        min_refresh: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        notifier: HubNotifier | None = None,
        reader_wait: float = 0.5,
    ) -> None:
        self._documents = Documents(settings, write=write_files)
        self._log = log
        self._model = model
        self._clock = clock
        self._on_render = on_render
        self._min_refresh = min_refresh
        self._monotonic = monotonic
        self._notifier = notifier
        self._lock = threading.Lock()
        self._edition: Edition | None = None
        self._checked = float("-inf")
        self._reader_wait = reader_wait
        self._refresher = ThreadPoolExecutor(1, thread_name_prefix="refresh")
        self._pending: Future[Edition] | None = None
        self._pending_lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        return self._documents.settings

    @property
    def model(self) -> ReadModel:
        """The read model editions are rendered from (for other views of the same state)."""
        return self._model

    def position(self) -> int:
        """The log position the last edition reflects (0 before the first)."""
        edition = self._edition
        return edition.position if edition is not None else 0

    def reconfigure(self, settings: Settings) -> Edition:
        """Render again under new settings (titles, sources), whatever the log did."""
        with self._lock:
            self._documents.reconfigure(settings)
        return self.refresh()

    def refresh(self, unless_fresh: bool = False) -> Edition:
        """Catch the projection up with the log and return the current edition.

        `unless_fresh`: return the cached edition if another thread refreshed
        it while this one waited for the lock, so a burst of requests arriving
        as the throttle lapses costs one refresh, not one each.
        """
        with self._lock:
            if unless_fresh and (fresh := self.cached()) is not None:
                return fresh
            catch_up(self._log, self._model)
            self._checked = self._monotonic()
            edition = self._edition
            if (
                edition is not None
                and edition.position == self._model.checkpoint()
                and not self._documents.stale
            ):
                return edition
            started = time.perf_counter()
            update = self._documents.update(self._model, self._clock)
            self._on_render(time.perf_counter() - started)
            self._edition = update.edition
            self._announce(update.changed)
            return update.edition

    def _announce(self, changed: Iterable[Address]) -> None:
        """Ping the hub for every topic whose bytes changed (see the module doc)."""
        hub = self.settings.feed.hub
        if hub is None or self._notifier is None:
            return
        feed = self.settings.feed
        topics = [catalog.url(feed, address) for address in changed if address.row.topic]
        if topics:
            self._notifier.publish(hub, topics)

    def peek(self, address: Address) -> Document | None:
        """The document if it is at hand in the cached edition or kept; else None
        (ask `document`). Never touches the database, so an event loop may call it."""
        edition = self.cached()
        return None if edition is None else self._documents.peek(address, edition)

    def document(self, address: Address) -> Document | None:
        """The document as of the current edition, rendered if need be (blocking:
        it may read the database); None when there is no such document."""
        edition = self.current()
        return self._documents.get(address, edition, self._model, self._clock)

    def cached(self) -> Edition | None:
        """The edition, if it was checked against the log within `min_refresh`;
        else None. Never touches the database, so an event loop may call it."""
        edition = self._edition
        if edition is not None and self._monotonic() - self._checked < self._min_refresh:
            return edition
        return None

    def current(self) -> Edition:
        """The cached edition, refreshed at most every `min_refresh` seconds.

        The throttle bounds the database work a burst of feed-reader requests
        can cause, and lets a `serve` process pick up what collectors elsewhere
        appended without any signal from them. The last edition stands in
        while the database is unavailable.
        """
        fresh = self.cached()
        if fresh is not None:
            return fresh
        edition = self._edition
        if edition is None:  # nothing to serve yet: this reader has to wait
            return self.refresh(unless_fresh=True)
        try:
            return self._asked_for().result(self._reader_wait)
        except StillRendering:
            return edition  # the next request after the render gets the new one
        except StoreUnavailable as exc:
            logger.warning("serving the last edition", extra={"error": str(exc)})
            self._checked = self._monotonic()  # look again after min_refresh, not per request
            return edition

    def _asked_for(self) -> Future[Edition]:
        """The refresh under way on the publisher's thread, or a new one: a burst
        of stale readers costs one refresh, however long it takes."""
        with self._pending_lock:
            if self._pending is None or self._pending.done():
                self._pending = self._refresher.submit(self.refresh, True)
            return self._pending

    def close(self) -> None:
        """Let a refresh under way finish; no more start."""
        self._refresher.shutdown(wait=True)
