"""Prometheus metrics for `/metrics`.

Two kinds, kept apart on purpose:

* counters of what *this process* did (polls by outcome, failures by kind,
  entry events appended, WebSub pings by outcome, poll and
  feed-regeneration durations). They reset
  when the process restarts, which Prometheus' `rate()` expects;
* gauges read from the source projection at scrape time (last success, consecutive
  failures, the kind of a failing source's last failure, next poll, entry count
  per source, log head), and from the log itself (the events each source added
  in the last hour: its growth, one indexed count). These come from the
  log, so they are right in a `serve` process that polls nothing and after a
  restart, and agree with `aggregator sources` and `/healthz` (all three come
  from `engine.status.source_statuses`; under `run` the next poll is the
  scheduler's planned time in both `/metrics` and `/healthz`).

Each `Metrics` has its own registry, so two services in one test process do not
share counters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from aggregator.config import Settings
from aggregator.core.clock import utc_now
from aggregator.core.errors import StoreUnavailable
from aggregator.engine.status import source_statuses
from aggregator.ingest.poll import PollSummary
from aggregator.store.base import EventLog, ReadModel

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The `_created` twin of every counter doubles the exposition for no use here.
disable_created_metrics()  # type: ignore[no-untyped-call]


GROWTH_PERIOD = timedelta(hours=1)


class _SourceGauges(Collector):
    def __init__(
        self, settings: Settings, log: EventLog, model: ReadModel, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self._log = log
        self._model = model
        self._clock = clock
        # What a scheduler in this process has planned (see `Metrics.follow_schedule`).
        self.scheduled: Callable[[], Mapping[str, datetime | None]] = dict

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["source"]
        success = GaugeMetricFamily(
            "aggregator_source_last_success_timestamp_seconds",
            "When the source last answered usefully (200 or 304), Unix time",
            labels=labels,
        )
        polled = GaugeMetricFamily(
            "aggregator_source_last_poll_timestamp_seconds",
            "When the source was last polled, whatever the outcome, Unix time",
            labels=labels,
        )
        failures = GaugeMetricFamily(
            "aggregator_source_consecutive_failures",
            "Failed polls since the last success",
            labels=labels,
        )
        upcoming = GaugeMetricFamily(
            "aggregator_source_next_poll_timestamp_seconds",
            "The next poll: the scheduler's planned time under run, else the earliest the "
            "backoff and the server's pacing allow, Unix time",
            labels=labels,
        )
        entries = GaugeMetricFamily(
            "aggregator_source_entries", "Entries the source has in the log", labels=labels
        )
        growth = GaugeMetricFamily(
            "aggregator_source_events_last_hour",
            "Events the log recorded for the source in the last hour, of every kind: "
            "how fast it grows the log",
            labels=labels,
        )
        failing = GaugeMetricFamily(
            "aggregator_source_failing",
            "1 while the source's last poll failed, by the failure's kind (no-updates, ...)",
            labels=["source", "kind"],
        )
        up = GaugeMetricFamily(
            "aggregator_store_up", "1 when the database answered this scrape, else 0"
        )
        try:
            states = self._model.sources()
            log_head = self._log.head()
            recent = self._log.recorded_since(self._clock() - GROWTH_PERIOD)
        except StoreUnavailable:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for status in source_statuses(self.settings, states, self.scheduled()):
            if not status.in_log:
                continue
            name = status.name
            failures.add_metric([name], status.failures)
            entries.add_metric([name], status.entries)
            growth.add_metric([name], recent.get(name, 0))
            if status.error_kind is not None:
                failing.add_metric([name, status.error_kind], 1)
            if status.last_success is not None:
                success.add_metric([name], status.last_success.timestamp())
            if status.last_poll is not None:
                polled.add_metric([name], status.last_poll.timestamp())
            if status.next_poll is not None:
                upcoming.add_metric([name], status.next_poll.timestamp())
        head = GaugeMetricFamily(
            "aggregator_log_head_position", "Position of the newest event in the log"
        )
        head.add_metric([], log_head)
        yield from (up, success, polled, failures, failing, upcoming, entries, growth, head)


class Metrics:
    def __init__(
        self,
        settings: Settings,
        log: EventLog,
        model: ReadModel,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.polls = Counter(
            "aggregator_polls",
            "Polls run by this process, by outcome (ok, not-modified, failed)",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.failures = Counter(
            "aggregator_poll_failures",
            "Failed polls run by this process, by kind (timeout, http-status, too-large, ...)",
            ["source", "kind"],
            registry=self.registry,
        )
        self.entries = Counter(
            "aggregator_entries_appended",
            "Entry events this process appended, by kind (added, revised)",
            ["source", "kind"],
            registry=self.registry,
        )
        self.poll_seconds = Histogram(
            "aggregator_poll_duration_seconds",
            "Wall time of one poll: fetch, extract, diff and append",
            ["source"],
            registry=self.registry,
        )
        self.render_seconds = Histogram(
            "aggregator_feed_regeneration_seconds",
            "Time to render and write every feed document once",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.hub_pings = Counter(
            "aggregator_websub_pings",
            "WebSub publish pings this process sent to the hub, by outcome (ok, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self._gauges = _SourceGauges(settings, log, model, clock)
        # The labelled series this process created for each source, to drop them
        # when the source is removed from the configuration.
        self._series: dict[str, set[tuple[Counter | Histogram, tuple[str, ...]]]] = {}
        self._configured = frozenset(source.name for source in settings.sources)
        self.registry.register(self._gauges)

    def follow_schedule(self, scheduled: Callable[[], Mapping[str, datetime | None]]) -> None:
        """Report next polls as `scheduled` plans them (a scheduler's `next_runs`),
        so /metrics and /healthz give the same time."""
        self._gauges.scheduled = scheduled

    def reconfigure(self, settings: Settings) -> None:
        """Report on the sources the new settings configure, and on no others: the
        series of a removed source are dropped, and a poll of it still in flight
        when the configuration changed is not counted."""
        self._gauges.settings = settings
        self._configured = frozenset(source.name for source in settings.sources)
        for name in set(self._series) - self._configured:
            for metric, labels in self._series.pop(name):
                with contextlib.suppress(KeyError):
                    metric.remove(*labels)

    def record_poll(self, summary: PollSummary, seconds: float) -> None:
        source = summary.source
        if source not in self._configured:
            return
        counts: list[tuple[Counter, tuple[str, ...], float]] = [
            (self.polls, (source, summary.outcome), 1),
            (self.entries, (source, "added"), summary.added),
            (self.entries, (source, "revised"), summary.revised),
        ]
        if summary.error_kind is not None:
            counts.append((self.failures, (source, summary.error_kind), 1))
        seen = self._series.setdefault(source, set())
        for counter, labels, amount in counts:
            counter.labels(*labels).inc(amount)
            seen.add((counter, labels))
        self.poll_seconds.labels(source).observe(seconds)
        seen.add((self.poll_seconds, (source,)))

    def record_render(self, seconds: float) -> None:
        self.render_seconds.observe(seconds)

    def record_hub_ping(self, outcome: str) -> None:
        self.hub_pings.labels(outcome).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "Metrics"]
