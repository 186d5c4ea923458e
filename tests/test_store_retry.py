"""The SQL log facing a database that goes away: `StoreUnavailable`, and appends retried.

PostgreSQL is reached through a TCP proxy the test cuts (see `tcp_proxy`);
SQLite's version of "unavailable" is a write lock held past the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from aggregator.core.errors import StoreUnavailable
from aggregator.store import open_store
from aggregator.store.sql import SqlStore
from tests.tcp_proxy import TcpProxy
from tests.test_store_contract import added, polled


@pytest.fixture
def proxied(postgres_schema_url: str) -> Iterator[tuple[TcpProxy, SqlStore]]:
    """A migrated store whose every connection goes through a proxy, with short retries."""
    direct = make_url(postgres_schema_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
    url = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    open_store(url).close()  # migrate
    store = SqlStore(url, retry_delays=(0.3, 0.6, 1.2))
    try:
        yield proxy, store
    finally:
        store.close()
        proxy.close()


def test_an_append_during_a_short_outage_is_retried_and_lands_once(
    proxied: tuple[TcpProxy, SqlStore],
) -> None:
    proxy, store = proxied
    store.log.append([added("a"), polled("p1")])
    proxy.cut()
    threading.Timer(0.8, proxy.restore).start()
    started = time.monotonic()
    written = store.log.append([added("b", minute=1), polled("p2")])
    assert time.monotonic() - started >= 0.8  # it waited for the database
    assert [r.position for r in written] == [3, 4]
    assert store.log.append([added("b", minute=1), polled("p2")]) == []
    assert [r.event_key for r in store.log.read()] == [
        "entry:s:a:v1",
        "poll:s:p1",
        "entry:s:b:v1",
        "poll:s:p2",
    ]


def test_a_long_outage_raises_store_unavailable_and_writes_nothing(
    proxied: tuple[TcpProxy, SqlStore],
) -> None:
    proxy, store = proxied
    store.log.append([added("a")])
    with proxy.outage():
        with pytest.raises(StoreUnavailable, match="unavailable") as caught:
            store.log.append([added("b", minute=1)])
        assert "127.0.0.1" in str(caught.value)  # names the database it could not reach
        with pytest.raises(StoreUnavailable):
            store.read_model.sources()
    assert store.log.head() == 1
    assert proxy.refused >= 4  # the first attempt and three retries


def test_sqlite_write_lock_held_too_long_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    open_store(f"sqlite:///{path}").close()
    store = SqlStore(f"sqlite:///{path}", retry_delays=(0.1,))
    # A short busy timeout stands in for the 30 s one, so the test takes a second.
    event.listen(
        store.engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=200")
    )
    holder = sqlite3.connect(path, isolation_level=None)  # a writer elsewhere that holds on
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="locked"):
            store.log.append([added("a")])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.log.append([added("a")])[0].position == 1
    store.close()
