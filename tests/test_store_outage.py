"""PostgreSQL going away and coming back while the service runs: retries, recorded
failures, and never a lost or doubled event.

The service (`aggregator run`) reaches PostgreSQL through a TCP proxy that
the test cuts twice while the live fixture plays the seed blogs' day: every
connection is dropped mid-whatever and new ones are refused for a few
seconds, as in a database restart or a network failure. Meanwhile the feed
must still be served (the last edition) and `/healthz` must say the store is
down. Afterwards the log must hold exactly what a one-shot collect of the
final pages holds, gap-free and with no event twice, plus a `SourceFailed`
of kind `store` for the polls the database could not take.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.atom_checks import atom_problems
from tests.conftest import seed_config_text
from tests.service_process import (
    Process,
    cli,
    events,
    free_ports,
    get,
    live_config_text,
    start_fixture,
    start_service,
    wait_for,
)
from tests.support import AJ_SEED, DK_SEED, SEEDS
from tests.tcp_proxy import TcpProxy

SPEED = 1500.0  # the virtual day in about 35 s: room for two outages while it grows
OUTAGE_SECONDS = 4.0
ENTRY_EVENTS = ("EntryAdded", "EntryRevised")


@pytest.fixture
def proxy(postgres_schema_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of the test's PostgreSQL, and the schema's URL through it."""
    direct = make_url(postgres_schema_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
    try:
        through = direct.set(host="127.0.0.1", port=proxy.port)
        yield proxy, through.render_as_string(hide_password=False)
    finally:
        proxy.close()


def _entries(log: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (e["source"], e["payload"]["key"], e["payload"]["content_hash"])
        for e in log
        if e["type"] in ENTRY_EVENTS
    ]


def test_postgres_outages_mid_run_lose_nothing_and_double_nothing(
    tmp_path: Path, proxy: tuple[TcpProxy, str], postgres_schema_url: str
) -> None:
    tcp, through_proxy = proxy
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in (AJ_SEED, DK_SEED):
        shutil.copy(SEEDS / name, seeds / name)
    files_config = tmp_path / "files.toml"
    files_config.write_text(
        seed_config_text(seeds, tmp_path / "files.db", tmp_path / "files-feeds"), encoding="utf-8"
    )
    fixture_port, service_port = free_ports(2)
    service_config = tmp_path / "service.toml"
    service_config.write_text(
        live_config_text(through_proxy, tmp_path / "feeds", service_port, fixture_port),
        encoding="utf-8",
    )
    # The same log, read directly (not through the proxy) by the test's own commands.
    direct_config = tmp_path / "direct.toml"
    direct_config.write_text(
        live_config_text(
            postgres_schema_url, tmp_path / "direct-feeds", service_port, fixture_port
        ),
        encoding="utf-8",
    )
    base = f"http://127.0.0.1:{service_port}"
    fixture = start_fixture(files_config, fixture_port, SPEED, tmp_path)
    service: Process | None = None
    try:
        service = start_service(service_config, "run", service_port, tmp_path)
        running = service

        def entries_logged(at_least: int) -> bool | None:
            running.check_alive()
            return True if len(_entries(events(direct_config))) >= at_least else None

        during: list[tuple[int | None, int | None]] = []
        for outage, before in enumerate((1, 12)):
            wait_for(lambda n=before: entries_logged(n), 60, f"{before} entries before outage")
            with tcp.outage():
                time.sleep(OUTAGE_SECONDS / 2)
                feed, health = get(f"{base}/feed.atom"), get(f"{base}/healthz")
                during.append(
                    (feed.status_code if feed else None, health.status_code if health else None)
                )
                if outage == 0 and feed is not None and feed.status_code == 200:
                    assert atom_problems(feed.content) == []
                time.sleep(OUTAGE_SECONDS / 2)
            running.check_alive()

        def day_served() -> bool | None:
            running.check_alive()
            complete = get(f"http://127.0.0.1:{fixture_port}/")
            assert complete is not None
            visible = complete.json()["sources"].values()
            if not all(s["visible"] == s["total"] for s in visible):
                return None
            healthy = get(f"{base}/healthz")
            return True if healthy is not None and healthy.status_code == 200 else None

        wait_for(day_served, 120, "the fixture's day to end with the service healthy", every=0.5)
        # Two more polls of each source after the day: anything a poll during an
        # outage missed has been fetched again by now.
        time.sleep(2.5)
        served = get(f"{base}/feed.atom")
        assert served is not None and served.status_code == 200
        assert service.signal(signal.SIGTERM, timeout=20) == 0, service.describe()
    finally:
        if service is not None:
            service.kill()
        fixture.kill()

    # While the database was away the last edition was served and health said so.
    assert during == [(200, 503), (200, 503)], service.describe()
    assert tcp.refused > 0
    stderr = service.stderr()
    assert "kind=store" in stderr and "unavailable" in stderr
    assert "Traceback" not in stderr

    log = events(direct_config)
    assert [e["position"] for e in log] == list(range(1, len(log) + 1))
    assert len({e["key"] for e in log}) == len(log)
    logged = _entries(log)
    assert len(logged) == len(set(logged)), "an entry event was appended twice"

    one_shot = cli(files_config, "collect")
    assert one_shot.returncode == 0, one_shot.stderr
    assert set(logged) == set(_entries(events(files_config)))

    # Each source's polls during the outages were recorded once the database answered.
    store_failures = [e for e in log if e["type"] == "SourceFailed"]
    assert store_failures, "no poll failure was recorded"
    assert {e["payload"]["kind"] for e in store_failures} == {"store"}
    assert {e["source"] for e in store_failures} == {"aljazeera", "dailyknight"}
    assert all("not recorded when polled" in e["payload"]["reason"] for e in store_failures)
    # And the feed the service served last is the one the log gives now.
    assert cli(direct_config, "feed").stdout.encode() == served.content
