"""The source list as OPML 2.0, the format feed readers exchange subscriptions in.

Export writes every configured source as an `<outline type="rss">` with the
attributes every reader understands (`text`, `title`, `xmlUrl`, `htmlUrl`)
and, in a namespace of our own (`namespace.NAMESPACE`, prefix `aggregator`),
what only this program needs to poll the source the same way again: its name
(which names its feed URL), format, interval, zone, first day, author, id
and selectors. Readers ignore attributes they do not know, so one file
serves both: a reader subscribes to the feeds, and our own import gets the
sources back exactly. Live-blog pages are exported the same way (their
`xmlUrl` is the page, and `aggregator:format` says how to read it); a reader
given one will fail to subscribe to it, which is the truth: only this
program reads it.

Import reads what readers write (Feedly, Inoreader, NetNewsWire,
Thunderbird): folders nested to any depth, `xmlUrl` spelled in any case,
`text` or `title` missing, `feed://` URLs, the same feed in two folders. The
config has no categories, so a folder survives only as a comment above the
table. Every outline becomes a `[[sources]]` table appended to the config
file; the whole new file is loaded with the real config loader before it
replaces the old one (temp file beside it, then rename), so an import either
lands complete and valid or leaves the file as it was, byte for byte.

The file is untrusted. It is parsed by lxml with entity substitution, DTD
loading and network access off, and a document whose DOCTYPE declares
entities or names an external DTD is refused outright: OPML needs neither,
and that is where entity bombs and external entities (XXE) live. It is
read up to `MAX_BYTES`. Local files (`file:` URLs and paths) are imported
only when asked, because a source reads the file and publishes it in the
feed: a subscription list from elsewhere must not be able to do that on its
own.

The package follows those steps: `export` writes the file, `read` parses an
untrusted one into outlines, `plan` decides what each outline becomes,
`tables` renders the TOML an import appends, and `apply` writes it into the
config. What the command line needs of them is re-exported here.
"""

from aggregator.cli.opml.apply import apply_import, existing_sources
from aggregator.cli.opml.errors import OpmlError
from aggregator.cli.opml.export import export_opml
from aggregator.cli.opml.plan import plan_import
from aggregator.cli.opml.read import MAX_BYTES, read_opml
from aggregator.cli.opml.tables import render_tables

__all__ = [
    "MAX_BYTES",
    "OpmlError",
    "apply_import",
    "existing_sources",
    "export_opml",
    "plan_import",
    "read_opml",
    "render_tables",
]
