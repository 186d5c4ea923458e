"""aggregator: an event-sourced live-blog and feed aggregator.

Sources are polled, their updates extracted, what is new or changed appended to
an append-only event log, and a merged Atom feed rendered from projections of
that log. See README.md for the commands and DESIGN notes.
"""

__version__ = "0.1.0"
