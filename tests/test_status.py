"""The per-source status behind `aggregator sources`, /healthz and /metrics:
one next-poll rule, the scheduler's plan before the policy's earliest time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.config import Settings, load_settings
from aggregator.core.states import SourceState
from aggregator.engine.status import SourceStatus, source_statuses
from tests.conftest import config_text

T0 = datetime(2020, 9, 27, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


def settings(tmp_path: Path) -> Settings:
    config = tmp_path / "aggregator.toml"
    urls = {name: f"file:///{name}.txt" for name in ("aljazeera", "dailyknight", "aljazeera-2")}
    config.write_text(config_text(tmp_path / "agg.db", tmp_path / "feeds", urls), encoding="utf-8")
    return load_settings(config, environ={})


FAILING = SourceState(
    name="dailyknight",
    last_polled_at=T0,
    last_outcome="failed",
    last_error="no updates found in the page",
    last_error_kind="no-updates",
    last_success_at=T0 - FIVE,
    consecutive_failures=2,
    entry_count=6,
)


def test_each_configured_source_in_order_with_the_policy_s_next_poll(tmp_path: Path) -> None:
    # A state for a source no longer configured is left out.
    states = {"dailyknight": FAILING, "gone": SourceState(name="gone", last_polled_at=T0)}
    never, failing, copy = source_statuses(settings(tmp_path), states)
    assert never == SourceStatus(
        name="aljazeera",
        in_log=False,
        last_poll=None,
        last_success=None,
        outcome=None,
        error=None,
        error_kind=None,
        failures=0,
        entries=0,
        next_poll=None,  # due now
        polling=False,
    )
    assert failing == SourceStatus(
        name="dailyknight",
        in_log=True,
        last_poll=T0,
        last_success=T0 - FIVE,
        outcome="failed",
        error="no updates found in the page",
        error_kind="no-updates",
        failures=2,
        entries=6,
        next_poll=T0 + 4 * FIVE,  # two failures: the interval doubled twice
        polling=False,
    )
    assert copy.name == "aljazeera-2" and not copy.in_log


def test_a_scheduler_s_plan_comes_first_and_in_flight_polls_show(tmp_path: Path) -> None:
    planned = T0 + timedelta(minutes=21)
    statuses = source_statuses(
        settings(tmp_path),
        {"dailyknight": FAILING},
        scheduled={"aljazeera": planned, "dailyknight": None},
        in_flight=["aljazeera-2"],
    )
    assert [(s.name, s.next_poll, s.polling) for s in statuses] == [
        ("aljazeera", planned, False),
        # No planned run (a job between runs): the policy's time, as without a scheduler.
        ("dailyknight", T0 + 4 * FIVE, False),
        ("aljazeera-2", None, True),
    ]
