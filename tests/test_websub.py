"""WebSub: feeds advertise the hub, and changed feeds are pinged to it.

The hub is a real HTTP server on 127.0.0.1 that records the publish pings
it is sent; the service is the real one, in-process or as `aggregator run`.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from lxml import etree

from aggregator.config import Settings, load_settings
from aggregator.core.errors import ConfigError
from aggregator.core.events import EntryAdded, SourceNotModified
from aggregator.engine.metrics import Metrics
from aggregator.publish import catalog
from aggregator.publish.live import Publisher
from aggregator.publish.websub import HubNotifier, link_header
from aggregator.web.app import create_app
from tests.asgi_server import running
from tests.atom_checks import atom_problems
from tests.conftest import Project, config_text, seed_config_text
from tests.documents import rendered, written
from tests.service_process import free_port, get, start_run, wait_for
from tests.session import PipelineSession
from tests.support import ManualClock
from tests.test_archive import with_feed_keys
from tests.test_jsonfeed import json_feed_problems

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "http://127.0.0.1:8080"  # the feeds' base_url in the test configs
SOURCE_TOPICS = {
    name: {f"{BASE}/sources/{name}.atom", f"{BASE}/sources/{name}.json"}
    for name in ("aljazeera", "dailyknight")
}
MERGED_TOPICS = {f"{BASE}/feed.atom", f"{BASE}/feed.json"}


@dataclass
class Hub:
    """A hub that records every POST: its form fields and content type."""

    status: int = 204
    delay: float = 0.0
    pings: list[tuple[dict[str, list[str]], str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def topics(self) -> list[str]:
        with self.lock:
            return [topic for form, _ in self.pings for topic in form.get("hub.url", [])]

    @contextmanager
    def running(self) -> Iterator[str]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(hub.delay)
                with hub.lock:
                    hub.pings.append(
                        (parse_qs(body.decode("ascii")), self.headers.get("Content-Type", ""))
                    )
                self.send_response(hub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hub"
        finally:
            server.shutdown()
            server.server_close()


def configure(project: Project, max_entries: int = 100, **feed_keys: object) -> Settings:
    base = seed_config_text(project.seeds, project.database, project.output, max_entries)
    project.config.write_text(with_feed_keys(base, **feed_keys), encoding="utf-8")
    return project.settings()


def feed_links(document: bytes) -> dict[str, str]:
    root = etree.fromstring(document)
    return {link.get("rel") or "": link.get("href") or "" for link in root.findall(f"{ATOM}link")}


def test_hub_is_checked(tmp_path: Path) -> None:
    base = config_text(tmp_path / "db.sqlite", tmp_path / "feeds", {"aljazeera": "feed.xml"})
    path = tmp_path / "agg.toml"
    expected = "feed.hub: expected an absolute http(s) URL such as https://hub.example.org/"
    for value in (
        '"ftp://hub.example.org/"',
        '"hub.example.org"',
        '"https://"',
        '"https://hub.example.org/#publish"',
        '"https://hub.example.org/a b"',
        '"https://hub.example.org/>"',
        '""',
        "42",
    ):
        path.write_text(base.replace("max_entries", f"hub = {value}\nmax_entries"))
        with pytest.raises(ConfigError) as caught:
            load_settings(path, environ={})
        assert str(caught.value).startswith(f"{path}: {expected}, got "), value
    path.write_text(
        base.replace("max_entries", 'hub = "https://hub.example.org:99999/"\nmax_entries')
    )
    with pytest.raises(ConfigError, match=r"feed\.hub: expected a port from 0 to 65535"):
        load_settings(path, environ={})
    path.write_text(base.replace("max_entries", 'hub = " https://hub.example.org/ "\nmax_entries'))
    assert load_settings(path, environ={}).feed.hub == "https://hub.example.org/"
    path.write_text(base)
    assert load_settings(path, environ={}).feed.hub is None


def test_documents_advertise_the_hub_only_when_configured(
    project: Project, clock: ManualClock
) -> None:
    hub = "https://hub.example.org/publish"
    for configured in (hub, None):
        keys = {"archive_size": 7} | ({"hub": configured} if configured else {})
        settings = configure(project, max_entries=10, **keys)
        session = PipelineSession(settings, clock)
        try:
            session.collect()
            atom_files = [written(settings, catalog.MERGED_ATOM)] + [
                written(settings, catalog.SOURCE_ATOM, name) for name in SOURCE_TOPICS
            ]
            for path in atom_files:
                document = path.read_bytes()
                links = feed_links(document)
                assert links.get("hub") == configured, path
                assert links["self"].endswith(path.name)
                assert atom_problems(document) == [], path
            json_files = [written(settings, catalog.MERGED_JSON)] + [
                written(settings, catalog.SOURCE_JSON, name) for name in SOURCE_TOPICS
            ]
            for path in json_files:
                document = path.read_bytes()
                feed = json.loads(document)
                expected = [{"type": "WebSub", "url": configured}] if configured else None
                assert feed.get("hubs") == expected, path
                assert json_feed_problems(document) == [], path
            # Archive pages and story feeds are not topics: never pinged, never advertised.
            page = written(settings, catalog.ARCHIVE_ATOM, "1").read_bytes()
            assert "hub" not in feed_links(page)
            story = next(e.story for e in session.store.read_model.entries() if e.story)
            assert story is not None
            model, name = session.store.read_model, catalog.story_name(story)
            assert "hub" not in feed_links(rendered(settings, model, catalog.STORY_ATOM, name))
            assert "hubs" not in json.loads(rendered(settings, model, catalog.STORY_JSON, name))
        finally:
            session.close()
            project.database.unlink()


@pytest.mark.parametrize("configured", [True, False])
def test_link_headers_name_the_hub_and_the_topic(
    project: Project, clock: ManualClock, configured: bool
) -> None:
    hub = "https://hub.example.org/publish"
    settings = configure(
        project, max_entries=10, archive_size=7, **({"hub": hub} if configured else {})
    )
    session = PipelineSession(settings, clock)
    session.collect()
    metrics = Metrics(settings, session.store.log, session.store.read_model)
    publisher = Publisher(
        settings, session.store.log, session.store.read_model, clock, min_refresh=0
    )
    try:
        with running(create_app(publisher, lambda: (True, {}), metrics.exposition)) as base:
            for path in (
                "/feed.atom",
                "/feed.json",
                "/sources/aljazeera.atom",
                "/sources/dailyknight.json",
            ):
                response = httpx.get(base + path)
                assert response.status_code == 200
                expected = link_header(hub, BASE + path) if configured else None
                assert response.headers.get("link") == expected, path
                again = httpx.get(base + path, headers={"If-None-Match": response.headers["etag"]})
                assert again.status_code == 304 and again.headers.get("link") == expected
            assert "link" not in httpx.get(base + "/archive/1.atom").headers
            assert httpx.get(base + "/sources/nope.atom").status_code == 404
    finally:
        session.close()
    if configured:
        assert link_header(hub, f"{BASE}/feed.atom") == (
            f'<{hub}>; rel="hub", <{BASE}/feed.atom>; rel="self"'
        )


def new_entry(source: str, n: int) -> EntryAdded:
    when = datetime(2020, 9, 28, 1, n, tzinfo=UTC)
    return EntryAdded(
        source=source,
        key=f"extra-{n}",
        entry_id=f"tag:example.org,2020:test/{source}/extra-{n}",
        version=1,
        title=f"Extra {n}",
        content_html=f"<p>Extra {n}.</p>",
        published=when,
        updated=when,
        link=None,
        author=None,
        content_hash=f"extra-{n}",
    )


def test_a_changed_feed_is_pinged_and_an_unchanged_one_is_not(
    project: Project, clock: ManualClock
) -> None:
    hub = Hub()
    outcomes: list[str] = []
    with hub.running() as url:
        settings = configure(project, hub=url)
        session = PipelineSession(settings, clock)
        notifier = HubNotifier(on_result=outcomes.append)
        publisher = Publisher(
            settings, session.store.log, session.store.read_model, clock, notifier=notifier
        )
        try:
            session.collect()  # writes the feeds, as a collect before the service started
            publisher.refresh()
            assert notifier.wait_idle(10)
            assert hub.topics() == []  # the files on disk were already these bytes

            # A poll that changed nothing: a new log position, the same documents.
            log = session.store.log
            log.append([SourceNotModified(source="dailyknight", poll_id="p1", fetched_at=clock())])
            publisher.refresh()
            assert notifier.wait_idle(10)
            assert hub.topics() == []

            log.append([new_entry("dailyknight", 1)])
            publisher.refresh()
            assert notifier.wait_idle(10)
            assert sorted(hub.topics()) == sorted(MERGED_TOPICS | SOURCE_TOPICS["dailyknight"])
            for form, content_type in hub.pings:  # one topic per request, form-encoded
                assert form["hub.mode"] == ["publish"] and len(form["hub.url"]) == 1
                assert content_type == "application/x-www-form-urlencoded"
            assert outcomes == ["ok"] * 4
        finally:
            notifier.close()
            session.close()


def test_a_slow_or_failing_hub_holds_nothing_up(project: Project, clock: ManualClock) -> None:
    slow = Hub(delay=3.0)
    outcomes: list[str] = []
    with slow.running() as url:
        settings = configure(project, hub=url)
        session = PipelineSession(settings, clock)
        notifier = HubNotifier(timeout=0.5, on_result=outcomes.append)
        publisher = Publisher(
            settings, session.store.log, session.store.read_model, clock, notifier=notifier
        )
        try:
            started = time.monotonic()
            publisher.refresh()  # an empty output_dir: every document is new
            session.collect()
            publisher.refresh()
            assert time.monotonic() - started < 2.5  # no refresh waited for the hub
            assert notifier.wait_idle(20)
            assert outcomes and set(outcomes) == {"failed"}  # each ping timed out
        finally:
            notifier.close()
            session.close()
    refusing = Hub(status=500)
    with refusing.running() as url:
        notifier = HubNotifier(on_result=outcomes.append)
        notifier.publish(url, ["https://example.org/feed.atom"])
        assert notifier.wait_idle(10)
        assert outcomes[-1] == "failed" and refusing.topics() == ["https://example.org/feed.atom"]
        notifier.close()


def metric(base: str, name: str) -> float | None:
    response = get(base + "/metrics")
    if response is None:
        return None
    for line in response.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def entries_served(base: str) -> int | None:
    response = get(base + "/feed.atom")
    if response is None or response.status_code != 200:
        return None
    count = len(etree.fromstring(response.content).findall(f"{ATOM}entry"))
    return count if count == 46 else None


def test_the_running_service_pings_its_hub(project: Project, tmp_path: Path) -> None:
    hub = Hub()
    with hub.running() as url:
        configure(project, hub=url)
        service, base = start_run(project.config, tmp_path)
        try:
            wait_for(lambda: entries_served(base), 60, "the 46 seed entries")
            wait_for(
                lambda: True if set(hub.topics()) >= MERGED_TOPICS else None,
                20,
                "pings for the merged feed",
            )
            served = httpx.get(base + "/feed.atom")
            assert served.headers["link"] == link_header(url, f"{BASE}/feed.atom")
            assert feed_links(served.content)["hub"] == url
            ok = 'aggregator_websub_pings_total{outcome="ok"}'
            wait_for(lambda: metric(base, ok), 10, "the ping counter")
            assert service.signal(signal.SIGTERM, timeout=20) == 0, service.describe()
        finally:
            service.kill()


def test_a_dead_hub_does_not_stop_the_service(project: Project, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hub"  # nothing listens there
    configure(project, hub=dead)
    service, base = start_run(project.config, tmp_path)
    try:
        wait_for(lambda: entries_served(base), 60, "the 46 seed entries")
        failed = 'aggregator_websub_pings_total{outcome="failed"}'
        assert wait_for(lambda: metric(base, failed), 20, "failed pings counted") >= 2
        health = httpx.get(base + "/healthz")
        assert health.status_code == 200 and health.json()["scheduler"] == "running"
        assert service.signal(signal.SIGTERM, timeout=20) == 0, service.describe()
    finally:
        service.kill()
    assert "hub ping failed" in service.stderr() and "ConnectError" in service.stderr()
