"""The one error of OPML import and export, so that every step can raise it."""

from __future__ import annotations

from aggregator.core.errors import AggregatorError


class OpmlError(AggregatorError):
    """An OPML file, or the import it asked for, could not be used; nothing was written."""
