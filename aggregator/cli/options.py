"""What an option's value may be: each checked by argparse, before any config
is loaded or database opened (opening one creates it), and an error there is
argparse's usage line, exit 2.

`--as-of` and `--until` are checked here as "a log position or an ISO time",
and turned into a position by `position` once the handler has the log.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aggregator.config import parse_duration
from aggregator.config.shard import Shard
from aggregator.core.errors import AggregatorError

if TYPE_CHECKING:  # the store is imported by the commands that open it, not by the parser
    from aggregator.store.base import EventLog


def port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def log_position(text: str) -> int:
    """A log position: 0 or more (a negative one would silently mean "all")."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a log position (0 or more), got {text!r}")
    return int(text)


def position_or_time(text: str) -> str:
    """`--as-of`/`--until`, checked before any database is opened; `position`
    turns it into a position later."""
    if text.isascii() and text.isdigit():
        return text
    try:
        iso_time(text, "")
    except AggregatorError:
        raise argparse.ArgumentTypeError(
            f"expected a log position or an ISO time such as 2020-09-28T00:30:00Z, got {text!r}"
        ) from None
    return text


def position(log: EventLog, value: str, option: str) -> int:
    """A `position_or_time` value as a log position (a time: naive means UTC)."""
    if value.isdigit():
        return int(value)
    try:
        return log.position_at(iso_time(value, option))
    except AggregatorError:
        raise AggregatorError(
            f"{option}: expected a log position or an ISO time, got {value!r}"
        ) from None


def add_shard_option(parser: argparse.ArgumentParser, text: str) -> None:
    """`--shard I/N`, defaulting to $AGGREGATOR_SHARD: a container sets it once
    for both its collector and its health check."""
    parser.add_argument(
        "--shard",
        type=shard,
        metavar="I/N",
        default=os.environ.get("AGGREGATOR_SHARD") or None,
        help=f"{text} (default: $AGGREGATOR_SHARD, else all)",
    )


def duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds is None or seconds < 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as '90s' or '10m', got {text!r}"
        )
    return seconds


def shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"expected a speed from 0 to 1000000, got {text!r}")
    return value


def iso_time(value: str, option: str) -> datetime:
    """An ISO time from the command line; naive means UTC."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AggregatorError(f"{option}: expected an ISO time, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


__all__ = [
    "add_shard_option",
    "duration",
    "iso_time",
    "log_position",
    "port",
    "position",
    "position_or_time",
    "shard",
    "speed",
]
