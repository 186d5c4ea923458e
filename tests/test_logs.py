"""Structured log lines: the fields passed with `extra=` come out as data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from aggregator.cli import logs


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(fmt: str) -> str:
    stream = io.StringIO()
    logs.configure(fmt, logging.INFO, stream)
    logger = logging.getLogger("aggregator.test")
    logger.info("poll", extra={"source": "aljazeera", "added": 3, "error": 'HTTP 429 "slow"'})
    logger.debug("not shown at INFO")
    return stream.getvalue()


def test_json_lines_carry_every_field(restore_root: None) -> None:
    (line,) = emit("json").splitlines()
    record = json.loads(line)
    assert record["level"] == "info" and record["logger"] == "aggregator.test"
    assert record["message"] == "poll" and record["time"].endswith("Z")
    assert (record["source"], record["added"], record["error"]) == (
        "aljazeera",
        3,
        'HTTP 429 "slow"',
    )


def test_text_lines_are_key_value_with_quoting(restore_root: None) -> None:
    (line,) = emit("text").splitlines()
    assert " INFO    aggregator.test poll source=aljazeera added=3 " in line
    assert line.endswith('error="HTTP 429 \\"slow\\""')


def test_exceptions_keep_their_traceback(restore_root: None) -> None:
    stream = io.StringIO()
    logs.configure("json", logging.INFO, stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("aggregator.test").exception("crashed", extra={"source": "x"})
    record = json.loads(stream.getvalue())
    assert record["source"] == "x" and "ValueError: boom" in record["traceback"]
