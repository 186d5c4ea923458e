"""Where a command's output goes: a document to a file, written atomically, or
to stdout; a progress line to a terminal, and nowhere when stderr is a file."""

from __future__ import annotations

import sys
from pathlib import Path

from aggregator.core.files import write_atomic


def emit(document: bytes, output: str | None) -> None:
    """Write a document to `output` atomically, or to stdout when there is none."""
    if output:
        write_atomic(Path(output), document)
    else:
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()


def progress(text: str, done: bool = False) -> None:
    """A self-overwriting status line on a terminal; nothing when stderr is a file."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[K{text}" + ("\n" if done else ""))
        sys.stderr.flush()


__all__ = ["emit", "progress"]
