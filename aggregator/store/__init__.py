"""Storage: the append-only event log and the read models projected from it.

`open_store` is the one way the commands get at a database; it creates or
upgrades the schema (`migrations`) and turns connection failures into a
`StoreError` that names the database (never its password).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from aggregator.core.clock import utc_now
from aggregator.core.errors import StoreError
from aggregator.store.sql import SqlStore


def open_store(url: str, clock: Callable[[], datetime] = utc_now, migrate: bool = True) -> SqlStore:
    """A store on `url`, its schema upgraded to the newest revision unless `migrate` is off."""
    store = SqlStore(url, clock=clock)
    try:
        if migrate:
            store.create_schema()
        else:
            with store.engine.connect():
                pass
    except SQLAlchemyError as exc:
        store.close()
        shown = make_url(url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"cannot open database {shown}: {reason}") from None
    return store
