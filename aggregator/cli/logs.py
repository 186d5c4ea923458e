"""Structured logging: one line per event, with its fields as data.

`text` is for a person at a terminal (`time LEVEL logger message key=value ...`),
`json` is one object per line for a log shipper. Both carry the same fields:
whatever a caller passes in `extra=` becomes a key, so a poll's source,
outcome and counts can be filtered on rather than parsed out of prose.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# LogRecord's own attributes, plus uvicorn's terminal-colour copy of its message.
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message", "asctime", "color_message",
}  # fmt: skip


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _text_value(value: Any) -> str:
    text = str(value)
    if text == "" or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [_time(record), f"{record.levelname:<7}", record.name, record.getMessage()]
        parts += [f"{k}={_text_value(v)}" for k, v in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(_fields(record))
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class CommandFormatter(logging.Formatter):
    """A one-shot command's warnings, one line each, like its errors
    (`aggregator: warning: ...`); the traceback only under `--debug`."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__()
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"aggregator: {record.levelname.lower()}: {record.getMessage()}"]
        parts += [f"{k}={_text_value(v)}" for k, v in _fields(record).items()]
        line = " ".join(parts)
        if self._tracebacks and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_command(debug: bool, stream: TextIO | None = None) -> None:
    """Logging for a one-shot command: warnings and errors on stderr, one line
    each; a source's crash is reported, its traceback shown only with `--debug`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(CommandFormatter(tracebacks=debug))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def configure(fmt: str = "text", level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Route every logger (ours, uvicorn's, APScheduler's) through one formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs every job run at INFO; our own poll line says more.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    # httpx logs every request at INFO: a second line per poll that says less
    # than our own poll line (the service's log of 1,000 polls was half httpx).
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    # Alembic narrates every plugin it loads; a migration that ran is in `db status`.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
