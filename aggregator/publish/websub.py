"""Telling a WebSub hub that feeds changed (https://www.w3.org/TR/websub/).

With `[feed] hub` set, every feed document advertises the hub beside its own
URL (`<link rel="hub">` and `rel="self"` in Atom, `hubs` in JSON Feed, and the
same pair as HTTP `Link` headers), and after a regeneration that changed a
document's bytes the service sends the hub a publish ping for that document's
URL (its topic), so subscribers hear of the change within seconds instead of
at their next poll.

WebSub leaves the publisher-to-hub step to each hub. The ping sent here is
the one hubs have long accepted (PubSubHubbub 0.4, Google's, Superfeedr,
WebSub.rocks, Switchboard): a form-encoded POST of `hub.mode=publish` and
`hub.url=<topic>`. One request per topic: some hubs read several `hub.url`
values from one request, others only the first, and a hub that silently
drops the rest would leave those topics stale; the topics per regeneration
are few (two per changed feed), so the extra requests cost little.

The pings never hold anything up. `HubNotifier.publish` only records the
topics; one background thread sends them, each with a timeout, and a ping
that fails (refused, timed out, answered with anything but 2xx) is logged
and counted and otherwise dropped: the next change pings again, and
subscribers still poll. Topics that pile up while the hub is slow are
merged, so a dead hub costs one pending set of URLs, never a growing queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import httpx

from aggregator.ingest.fetch import USER_AGENT

logger = logging.getLogger("aggregator.websub")

PING_TIMEOUT = 10.0  # seconds for each ping, connect and answer together


def link_header(hub: str, self_url: str) -> str:
    """The HTTP `Link` header WebSub section 4 asks a topic's responses to carry."""
    return f'<{hub}>; rel="hub", <{self_url}>; rel="self"'


class HubNotifier:
    """Sends publish pings from one daemon thread, started on the first ping.

    `on_result` is told "ok" or "failed" after each ping (the metrics counter).
    """

    def __init__(
        self,
        timeout: float = PING_TIMEOUT,
        on_result: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self._timeout = timeout
        self._on_result = on_result
        self._pending: dict[tuple[str, str], None] = {}  # (hub, topic), in order
        self._sending = 0
        self._closed = False
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def publish(self, hub: str, topics: Iterable[str]) -> None:
        """Queue a ping to `hub` for each topic; returns at once."""
        with self._condition:
            if self._closed:
                return
            for topic in topics:
                self._pending[(hub, topic)] = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="websub", daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued ping was sent (or failed); False on timeout."""
        with self._condition:
            return self._condition.wait_for(
                lambda: not self._pending and not self._sending, timeout=timeout
            )

    def close(self, timeout: float = 2.0) -> None:
        """Stop sending: pings still queued are dropped, one in flight gets `timeout`."""
        with self._condition:
            self._closed = True
            self._pending.clear()
            self._condition.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        with httpx.Client(
            timeout=self._timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        ) as client:
            while True:
                with self._condition:
                    self._condition.wait_for(lambda: self._pending or self._closed)
                    if self._closed:
                        return
                    batch = list(self._pending)
                    self._pending.clear()
                    self._sending = len(batch)
                for hub, topic in batch:
                    self._ping(client, hub, topic)
                    with self._condition:
                        self._sending -= 1
                        self._condition.notify_all()

    def _ping(self, client: httpx.Client, hub: str, topic: str) -> None:
        try:
            response = client.post(hub, data={"hub.mode": "publish", "hub.url": topic})
        except Exception as exc:  # a ping must never take the thread down
            self._failed(hub, topic, f"{type(exc).__name__}: {exc}")
            return
        if not 200 <= response.status_code < 300:
            self._failed(hub, topic, f"HTTP {response.status_code} {response.reason_phrase}")
            return
        logger.debug("hub pinged", extra={"hub": hub, "topic": topic})
        self._report("ok")

    def _failed(self, hub: str, topic: str, error: str) -> None:
        logger.warning("hub ping failed", extra={"hub": hub, "topic": topic, "error": error})
        self._report("failed")

    def _report(self, outcome: str) -> None:
        try:
            self._on_result(outcome)
        except Exception:
            logger.exception("recording a hub ping failed")
