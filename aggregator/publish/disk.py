"""What the files on disk were rendered from.

Documents are written with `core.files.write_atomic` (the one writer: a
temporary file beside the target, fsynced, renamed over it; a file whose
bytes did not change is left alone so its modification time means something).

A state file, `.state.json`, beside the files of a kind records what they
were rendered from (log position, paging, a digest of the configuration)
for the next process to carry on from, rendering only what the log changed
since (`publish.documents`):

* `archive/.state.json`, for the archive pages: rendering every page would
  grow with the log. Its digest (`archive.render_key`) holds only what a
  page shows, so adding a source renders no full page again;
* `.state.json` beside `feed.atom`, for the merged feed and the sources',
  written by commands only (`publish.files`, which says why and when).

Where the files are is the catalog's (`publish.catalog`); this module only
reads and writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from aggregator.core.files import write_atomic
from aggregator.publish.archive import Baseline, Paging

STATE = ".state.json"  # beside the files it is about


def read_baseline(directory: Path) -> Baseline | None:
    """What the files in `directory` were rendered from; None when unknown or
    unreadable."""
    try:
        data = json.loads((directory / STATE).read_text(encoding="utf-8"))
        window = int(data["window"])
        # A state file from before `fair_span` paged by the window alone.
        reach = int(data.get("reach", window))
        paging = Paging(int(data["entries"]), window, int(data["size"]), reach)
        baseline = Baseline(paging, int(data["position"]), str(data["key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (
        paging.window < 1
        or paging.size < 1
        or paging.reach < paging.window
        or paging.entries < 0
        or baseline.position < 0
    ):
        return None
    return baseline


def write_baseline(directory: Path, baseline: Baseline) -> None:
    paging = baseline.paging
    data = {
        "position": baseline.position,
        "entries": paging.entries,
        "window": paging.window,
        "size": paging.size,
        "reach": paging.reach,
        "key": baseline.key,
    }
    write_atomic(directory / STATE, (json.dumps(data, sort_keys=True) + "\n").encode())


def forget_baseline(directory: Path) -> None:
    (directory / STATE).unlink(missing_ok=True)
