"""`aggregator opml export` and `opml import`, through the command, on real files.

Reader-style files (Feedly, Inoreader, NetNewsWire, Thunderbird, and one of
duplicates) sit in tests/fixtures/opml/ beside the TOML a dry run must print
(`<name>.expected.toml`) and the notes it must give (`<name>.expected.stderr`,
the temporary directory written as `<tmp>`). Regenerate them after a
deliberate change with AGGREGATOR_UPDATE_GOLDEN=1 and read the diff.

The configs of config/ (which read the seeds of seeds/) go round the loop:
export, import into a config with no sources, and the loaded sources must be
equal. Hostile files (entity bombs, external entities, junk) must fail with
one line naming the file, exit 2, and leave the config byte for byte as it was.

The command runs in this process (`Cli`, `aggregator.cli.main` with its output
captured). Four cases start it as a user does (`run_process`): an export, an
import that writes the config, a hostile file, and a malformed one.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from lxml import etree

from aggregator.cli import opml
from aggregator.cli.main import main
from aggregator.cli.opml.tables import _toml
from aggregator.config import load_settings
from tests.golden import UPDATE
from tests.support import AJ_SEED, DK_SEED, REPO

FIXTURES = REPO / "tests" / "fixtures" / "opml"
RELATIVE = FIXTURES.relative_to(REPO)
NS = "{urn:aggregator:opml}"
REAL_CONFIGS = ["aggregator.toml", "live.toml", "compose.toml"]
READER_FILES = ["feedly", "inoreader", "netnewswire", "thunderbird", "duplicates"]


def run_process(*args: str) -> subprocess.CompletedProcess[bytes]:
    """The command as a user runs it: a new interpreter, from the repository,
    with no AGGREGATOR_ variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        capture_output=True,
        env=environ,
        cwd=REPO,
        timeout=120,
    )


def decoded(result: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


class Cli:
    """The command in this process (`aggregator.cli.main`), in the conditions
    `run_process` gives it: the `cli` fixture makes the repository the working
    directory and removes the AGGREGATOR_ variables. Starting an interpreter
    for every case is what made these tests slow."""

    def __init__(
        self, capture: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self._capture = capture
        self._monkeypatch = monkeypatch

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return decoded(self._call(args, stdin))

    def export(self, config: Path) -> bytes:
        result = self._call(("--config", str(config), "opml", "export"), None)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def _call(
        self, args: tuple[str, ...], stdin: bytes | None
    ) -> subprocess.CompletedProcess[bytes]:
        if stdin is not None:
            self._monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        self._capture.readouterr()  # only what this call writes
        code = main(list(args))
        out, err = self._capture.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)


@pytest.fixture
def cli(capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(REPO)
    for key in [k for k in os.environ if k.startswith("AGGREGATOR_")]:
        monkeypatch.delenv(key)
    return Cli(capsysbinary, monkeypatch)


def empty_config(path: Path, like: Path) -> Path:
    """A config with `like`'s [feed] table and no sources at all: what an import fills."""
    feed = tomllib.loads(like.read_text(encoding="utf-8"))["feed"]
    lines = [
        "# No sources yet.",
        "[storage]",
        f'url = "sqlite:///{path.parent / "agg.db"}"',
        "",
        "[feed]",
        *(
            f"{key} = {_toml(value) if isinstance(value, str) else value}"
            for key, value in feed.items()
            if key != "output_dir"
        ),
        'output_dir = "feeds"',
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def base_config(tmp_path: Path) -> Path:
    config = tmp_path / "aggregator.toml"
    config.write_bytes((FIXTURES / "base.toml").read_bytes())
    return config


def leftovers(directory: Path) -> list[str]:
    """Temporary files an import would leave beside the config if it failed untidily."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aggregator: error: ")
    return lines[0]


# --- export -----------------------------------------------------------------


@pytest.mark.parametrize("name", REAL_CONFIGS)
def test_export_gives_every_source_of_the_real_configs(name: str, cli: Cli) -> None:
    config = REPO / "config" / name
    settings = load_settings(config, environ={})
    before = datetime.now(UTC).replace(microsecond=0)
    document = cli.export(config)
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    document.decode("utf-8")  # strict: valid UTF-8 throughout
    root = etree.fromstring(document)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == f"{settings.feed.title}: sources"
    created = parsedate_to_datetime(root.findtext("head/dateCreated") or "")
    assert root.findtext("head/dateCreated", "").endswith(" GMT")
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    outlines = root.findall("body/outline")
    assert len(outlines) == len(settings.sources) == 2
    for outline, source in zip(outlines, settings.sources, strict=True):
        assert outline.get("type") == "rss"
        assert outline.get("xmlUrl") == source.url
        assert outline.get("text") == outline.get("title") == source.title
        assert outline.get("htmlUrl") == source.link  # a live blog's page is its link
        assert outline.get(f"{NS}name") == source.name
        assert outline.get(f"{NS}format") == "liveblog-text"
        assert outline.get(f"{NS}timezone") == source.timezone.key
        assert outline.get(f"{NS}date") == "2020-09-27"
    if name == "aggregator.toml":
        assert [o.get("xmlUrl") for o in outlines] == [
            (REPO / "seeds" / AJ_SEED).as_uri(),
            (REPO / "seeds" / DK_SEED).as_uri(),
        ]
        assert [o.get(f"{NS}interval") for o in outlines] == ["5m", "5m"]
    if name == "live.toml":
        assert [o.get(f"{NS}interval") for o in outlines] == ["2s", "2s"]


def test_export_of_a_feed_leaves_out_what_readers_would_misread(tmp_path: Path, cli: Cli) -> None:
    """A feed's URL is no web page: no htmlUrl unless a link was configured; a
    default id is not written (it follows the feed it is imported into); a
    title with characters XML forbids still gives a well-formed document."""
    config = empty_config(tmp_path / "c.toml", REPO / "config" / "aggregator.toml")
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            '\n[[sources]]\nname = "plain"\nurl = "https://plain.example/rss"\nformat = "feed"\n'
            '\n[[sources]]\nname = "odd"\ntitle = "Bell\\u0007 & <Co>"\n'
            'url = "https://odd.example/rss"\nlink = "https://odd.example/"\n'
            'id = "tag:odd.example,2020:odd"\ninterval = "1h30m"\n'
        )
    root = etree.fromstring(cli.export(config))
    plain, odd = root.findall("body/outline")
    assert plain.get("htmlUrl") is None and plain.get(f"{NS}id") is None
    assert plain.get("text") == "plain" and plain.get(f"{NS}format") == "feed"
    assert odd.get("text") == "Bell & <Co>"
    assert odd.get("htmlUrl") == "https://odd.example/"
    assert odd.get(f"{NS}id") == "tag:odd.example,2020:odd"
    assert odd.get(f"{NS}interval") == "1h30m"
    assert odd.get(f"{NS}format") == "auto"


def test_export_to_a_file(tmp_path: Path, cli: Cli) -> None:
    """End to end: in a process of its own, `-o` writes the document stdout gives."""
    target = tmp_path / "out" / "subscriptions.opml"
    config = str(REPO / "config" / "aggregator.toml")
    result = decoded(run_process("--config", config, "opml", "export", "-o", str(target)))
    assert result.returncode == 0 and result.stdout == "", result.stderr
    written = etree.fromstring(target.read_bytes())
    shown = etree.fromstring(cli.export(REPO / "config" / "aggregator.toml"))
    for document in (written, shown):
        document.find("head/dateCreated").text = ""
    assert etree.tostring(written) == etree.tostring(shown)
    assert leftovers(target.parent) == []
    assert cli.run("--config", config, "opml", "export", "--output", str(target)).returncode == 0


def test_export_needs_a_valid_config(tmp_path: Path, cli: Cli) -> None:
    config = empty_config(tmp_path / "c.toml", REPO / "config" / "aggregator.toml")
    line = one_line_error(cli.run("--config", str(config), "opml", "export"))
    assert f"{config}: sources: expected at least one [[sources]] table" in line


# --- round trip -------------------------------------------------------------


@pytest.mark.parametrize("name", REAL_CONFIGS)
def test_round_trip_through_an_empty_config_gives_the_same_sources(
    name: str, tmp_path: Path, cli: Cli
) -> None:
    original = REPO / "config" / name
    exported = tmp_path / "sources.opml"
    exported.write_bytes(cli.export(original))
    config = empty_config(tmp_path / "new.toml", original)
    result = cli.run("--config", str(config), "opml", "import", str(exported), "--allow-files")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"added 2 sources to {config}: aljazeera, dailyknight\n"
    expected = load_settings(original, environ={}).sources
    assert load_settings(config, environ={}).sources == expected
    # Importing the same file again adds nothing and writes nothing.
    text = config.read_bytes()
    again = cli.run("--config", str(config), "opml", "import", str(exported), "--allow-files")
    assert again.returncode == 0
    assert "nothing imported" in again.stdout
    assert again.stderr.count("is already configured (source '") == 2
    assert config.read_bytes() == text


def test_round_trip_keeps_every_setting(tmp_path: Path, cli: Cli) -> None:
    """Selectors, a chosen id, a start time, a fractional interval, a link, quotes
    and backslashes and non-Latin text in titles, a name no title would give."""
    original = empty_config(tmp_path / "original.toml", REPO / "config" / "aggregator.toml")
    with original.open("a", encoding="utf-8") as handle:
        handle.write(
            f"""
[[sources]]
name = "x1"
title = 'He said "hold" \\ then — Νέα'
url = "https://live.example/page?a=1&b=2"
link = "https://live.example/"
format = "liveblog-html"
interval = 12.5
timezone = "Asia/Yerevan"
date = "2020-09-27T06:30:00"
author = "Desk"
id = "tag:live.example,2020:x1"

[sources.selectors]
update = "div.update"
time = "time"
body = ".update-body"

[[sources]]
name = "feed_2"
url = "https://feeds.example/atom"
format = "feed"
interval = "1d2h3m4s"

[[sources]]
name = "seed"
url = "{(REPO / "seeds" / AJ_SEED).as_uri()}"
format = "liveblog-text"
date = 2020-09-27
"""
        )
    exported = tmp_path / "sources.opml"
    exported.write_bytes(cli.export(original))
    config = empty_config(tmp_path / "new.toml", original)
    result = cli.run("--config", str(config), "opml", "import", str(exported), "--allow-files")
    assert result.returncode == 0, result.stderr
    before = load_settings(original, environ={}).sources
    after = load_settings(config, environ={}).sources
    assert after == before
    assert after[0].selectors == {"update": "div.update", "time": "time", "body": ".update-body"}
    assert after[0].interval == timedelta(seconds=12.5)
    assert after[0].start is not None and after[0].start.utcoffset() == timedelta(hours=4)


def test_imported_seeds_give_the_same_feed(tmp_path: Path, cli: Cli) -> None:
    """The sources coming back is the point: the same polls give the same feed bytes."""
    original = tmp_path / "original.toml"
    original.write_text(
        (REPO / "config" / "aggregator.toml")
        .read_text(encoding="utf-8")
        .replace("../seeds/", f"{REPO}/seeds/")
        .replace("sqlite:///../var/aggregator.db", f"sqlite:///{tmp_path}/original.db")
        .replace('"../var/feeds"', '"original-feeds"'),
        encoding="utf-8",
    )
    exported = tmp_path / "sources.opml"
    exported.write_bytes(cli.export(original))
    config = empty_config(tmp_path / "new.toml", original)
    assert cli.run("--config", str(config), "opml", "import", str(exported), "--allow-files").stdout
    for path in (original, config):
        assert cli.run("--config", str(path), "collect").returncode == 0
    feeds = [cli.run("--config", str(path), "feed").stdout for path in (original, config)]
    assert feeds[0] == feeds[1]
    assert feeds[0].count("<entry>") == 46


# --- reader files -----------------------------------------------------------


@pytest.mark.parametrize("name", READER_FILES)
def test_reader_exports_import_as_the_golden_tables(name: str, tmp_path: Path, cli: Cli) -> None:
    config = base_config(tmp_path)
    before = config.read_bytes()
    source = str(RELATIVE / f"{name}.opml")
    dry = cli.run("--config", str(config), "opml", "import", source, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert config.read_bytes() == before and leftovers(tmp_path) == []
    notes = dry.stderr.replace(str(tmp_path), "<tmp>")
    toml_golden = FIXTURES / f"{name}.expected.toml"
    notes_golden = FIXTURES / f"{name}.expected.stderr"
    if UPDATE:
        toml_golden.write_text(dry.stdout, encoding="utf-8")
        notes_golden.write_text(notes, encoding="utf-8")
    assert dry.stdout == toml_golden.read_text(encoding="utf-8")
    assert notes == notes_golden.read_text(encoding="utf-8")

    done = cli.run("--config", str(config), "opml", "import", source)
    assert done.returncode == 0, done.stderr
    after = config.read_bytes()
    assert after == before + dry.stdout.encode("utf-8")  # the old bytes, then the tables
    names = [s.name for s in load_settings(config, environ={}).sources]
    assert names[0] == "harbour-gazette"
    assert done.stdout == f"added {len(names) - 1} sources to {config}: {', '.join(names[1:])}\n"
    assert cli.run("--config", str(config), "opml", "import", source).stdout.startswith(
        "nothing imported"
    )
    assert config.read_bytes() == after


def test_reader_files_keep_titles_folders_and_case_variants(tmp_path: Path, cli: Cli) -> None:
    """What the goldens show, said as facts (so that a careless regeneration fails)."""
    config = base_config(tmp_path)
    for name in ("feedly", "inoreader", "thunderbird", "netnewswire"):
        result = cli.run("--config", str(config), "opml", "import", str(FIXTURES / f"{name}.opml"))
        assert result.returncode == 0, result.stderr
    sources = {s.name: s for s in load_settings(config, environ={}).sources}
    assert sources["lowland-wire-world"].title == "Lowland Wire – world"
    assert sources["lowland-wire-world"].link == "https://lowland-wire.example/world"
    # The same outlet's other feed: a name of its own.
    assert sources["harbour-gazette-2"].url == "https://harbour-gazette.example/sport/rss.xml"
    # No title that makes a name: the host does.
    assert sources["thessaloniki-news-example"].title == "Νέα της Θεσσαλονίκης"
    assert sources["kettle-example"].title == "kettle-example"  # neither text nor title
    # feed:// is the http URL; a text spread over lines is one line.
    assert sources["fenwick-notebook-mirror"].url == "http://fenwick.example/notebook.atom"
    assert sources["fenwick-notebook-mirror"].title == "Fenwick Notebook (mirror)"
    # xmlurl and XMLURL are xmlUrl.
    assert sources["rss20-edge-cases"].url == "https://edge.example/rss20.rss"
    assert sources["broken-entity-wire"].url == "https://broken-entity.example/feed.rss"
    assert [s.name for s in sources.values() if s.url.startswith("https://notes")] == [
        "notes",
        "notes-2",
    ]
    text = config.read_text(encoding="utf-8")
    assert '# Folder: News / Regional\n[[sources]]\nname = "fenwick' in text
    assert "harbour-gazette-3" not in text  # the Harbour Gazette in capitals is a duplicate
    # A reader says nothing of formats: detection decides, as for any new source.
    assert {s.format for name, s in sources.items() if name != "harbour-gazette"} == {"auto"}


def test_skipped_outlines_are_named_with_their_lines(tmp_path: Path, cli: Cli) -> None:
    config = base_config(tmp_path)
    result = cli.run("--config", str(config), "opml", "import", str(FIXTURES / "thunderbird.opml"))
    assert result.returncode == 0
    notes = result.stderr.splitlines()
    assert any("line 13: 'Local notes'" in n and "--allow-files" in n for n in notes)
    assert any("line 14: 'Old FTP mirror'" in n and "scheme 'ftp'" in n for n in notes)
    assert any("line 15: 'Bad port'" in n and "Port out of range" in n for n in notes)
    assert any("line 16: outline 'A bookmark' has no xmlUrl" in n for n in notes)
    assert any("2 folders not kept" in n for n in notes)


def test_duplicates_are_imported_once_with_unique_names(tmp_path: Path, cli: Cli) -> None:
    config = base_config(tmp_path)
    result = cli.run("--config", str(config), "opml", "import", str(FIXTURES / "duplicates.opml"))
    assert result.returncode == 0, result.stderr
    sources = load_settings(config, environ={}).sources
    urls = [s.url for s in sources]
    assert len(urls) == len(set(urls))
    assert [s.url for s in sources if "dupe" in s.url] == ["http://dupe.example/rss"]
    assert result.stderr.count("duplicate of line 7") == 3
    names = [s.name for s in sources]
    assert names[-8:] == [
        "dupe-daily",
        "morning-briefing",
        "morning-briefing-2",
        "evening",
        "evening-2",
        "evening-3",
        "a-title-far-longer-than-any-source-name-may-be-so-it-has-to-be-c",
        "a-title-far-longer-than-any-source-name-may-be-so-it-has-to-be-2",
    ]
    assert all(len(name) <= 64 for name in names)
    assert "named 'evening-2', since 'evening' is taken" in result.stderr
    assert "named 'evening-3', since 'Evening!' is not a valid source name" in result.stderr


def test_import_from_stdin(tmp_path: Path, cli: Cli) -> None:
    config = base_config(tmp_path)
    data = (FIXTURES / "netnewswire.opml").read_bytes()
    result = cli.run("--config", str(config), "opml", "import", "-", "--dry-run", stdin=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("\n# Imported from stdin (aggregator opml import).\n")
    assert 'name = "notes-2"' in result.stdout


def test_local_files_only_with_allow_files(tmp_path: Path, cli: Cli) -> None:
    """A path in the file is read against the OPML file's directory, and only on request."""
    folder = tmp_path / "lists"
    folder.mkdir()
    listing = folder / "local.opml"
    listing.write_text(
        '<opml version="2.0"><body><outline text="Seed" xmlUrl="seed.txt"/>'
        '<outline text="Abs" xmlUrl="file:///srv/feeds/a.xml"/>'
        '<outline text="Rel" xmlUrl="//rel.example/rss"/></body></opml>',
        encoding="utf-8",
    )
    config = base_config(tmp_path)
    refused = cli.run("--config", str(config), "opml", "import", str(listing))
    assert refused.returncode == 0 and refused.stdout.startswith("nothing imported")
    assert refused.stderr.count("not imported without --allow-files") == 2
    allowed = cli.run("--config", str(config), "opml", "import", str(listing), "--allow-files")
    assert allowed.returncode == 0, allowed.stderr
    urls = [s.url for s in load_settings(config, environ={}).sources]
    assert urls[1:] == [(folder / "seed.txt").as_uri(), "file:///srv/feeds/a.xml"]
    # A scheme-relative URL is neither a web address nor a path: never guessed at.
    assert "'Rel': no scheme in '//rel.example/rss'" in allowed.stderr


def test_unknown_attributes_of_ours_are_named(tmp_path: Path, cli: Cli) -> None:
    listing = tmp_path / "future.opml"
    listing.write_text(
        '<opml version="2.0" xmlns:a="urn:aggregator:opml"><body>'
        '<outline text="Later" xmlUrl="https://later.example/rss" a:colour="blue"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    result = cli.run("--config", str(base_config(tmp_path)), "opml", "import", str(listing))
    assert result.returncode == 0
    assert "'Later': ignored unknown attribute aggregator:colour" in result.stderr


# --- the config file --------------------------------------------------------


def test_import_keeps_the_file_byte_for_byte_and_its_mode(tmp_path: Path) -> None:
    """End to end, the import that writes: no final newline, CRLF line ends, a
    comment, mode 0640, reached through a symlink."""
    text = (FIXTURES / "base.toml").read_bytes().rstrip(b"\n").replace(b"\n", b"\r\n")
    real = tmp_path / "real.toml"
    real.write_bytes(text)
    real.chmod(0o640)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    source = str(FIXTURES / "netnewswire.opml")
    result = decoded(run_process("--config", str(link), "opml", "import", source))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and link.resolve() == real
    after = real.read_bytes()
    assert after.startswith(text + b"\r\n\r\n# Imported from netnewswire.opml")
    assert b"\n" not in after.replace(b"\r\n", b"")  # every line end it added is CRLF too
    assert real.stat().st_mode & 0o777 == 0o640
    assert [s.name for s in load_settings(link, environ={}).sources] == [
        "harbour-gazette",
        "daring-bold",
        "notes",
        "notes-2",
    ]
    assert leftovers(tmp_path) == []


def test_a_value_the_config_refuses_writes_nothing(tmp_path: Path, cli: Cli) -> None:
    config = base_config(tmp_path)
    before = config.read_bytes()
    source = str(RELATIVE / "bad-settings.opml")
    for extra in ((), ("--dry-run",)):
        result = cli.run("--config", str(config), "opml", "import", source, *extra)
        line = one_line_error(result)
        assert line.startswith(f"aggregator: error: {source}: line 8: 'Soon': ")
        assert f"{config}: sources[2] (soon).interval: expected a duration" in line
        assert "got 'soon'; nothing was written" in line
        assert result.stdout == ""
        assert config.read_bytes() == before and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[feed\n", "not valid TOML"),
        ('sources = []\n[feed]\ntitle = "t"\n', "tables cannot be appended to it"),
        ('[feed]\ntitle = "t"\nid = "not a uri"\nbase_url = "http://x.example"\n', "feed.id"),
        ("", "missing [feed] table"),
    ],
)
def test_a_broken_config_is_named_and_left_alone(
    text: str, expected: str, tmp_path: Path, cli: Cli
) -> None:
    config = tmp_path / "broken.toml"
    config.write_text(text, encoding="utf-8")
    result = cli.run("--config", str(config), "opml", "import", str(FIXTURES / "feedly.opml"))
    line = one_line_error(result)
    assert line.startswith(f"aggregator: error: {config}: ")
    assert expected in line
    assert ".tmp" not in line  # the temporary file is never what the message names
    assert config.read_text(encoding="utf-8") == text and leftovers(tmp_path) == []


def test_a_missing_config_is_named(tmp_path: Path, cli: Cli) -> None:
    config = tmp_path / "nope.toml"
    line = one_line_error(
        cli.run("--config", str(config), "opml", "import", str(FIXTURES / "feedly.opml"))
    )
    assert f"{config}: config file not found" in line
    assert not config.exists()


def test_a_config_changed_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    before = config.read_bytes()
    document = opml.read_opml((FIXTURES / "feedly.opml").read_bytes(), "feedly.opml")
    _, existing = opml.existing_sources(config)
    plan = opml.plan_import(document, "feedly.opml", config, existing, False, tmp_path)
    tables = opml.render_tables(plan, "feedly.opml")
    config.write_bytes(before + b"# someone else's edit\n")
    with pytest.raises(opml.OpmlError, match="changed meanwhile"):
        opml.apply_import(config, before, tables, plan, "feedly.opml", dry_run=False)
    assert config.read_bytes() == before + b"# someone else's edit\n"
    assert leftovers(tmp_path) == []


# --- hostile and broken files -----------------------------------------------


def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    """End to end: the hostile file in a process of its own."""
    config = base_config(tmp_path)
    before = config.read_bytes()
    source = str(RELATIVE / "billion-laughs.opml")
    line = one_line_error(decoded(run_process("--config", str(config), "opml", "import", source)))
    assert line == (
        f"aggregator: error: {source}: line 2: refused: its DOCTYPE declares entities or names "
        "an external DTD (OPML needs neither, and they could read local files or expand "
        "without bound)"
    )
    assert config.read_bytes() == before


def test_an_external_entity_never_reads_the_file(tmp_path: Path, cli: Cli) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-canary-7f1d", encoding="utf-8")
    listing = tmp_path / "xxe.opml"
    template = (FIXTURES / "xxe-local-file.opml").read_text(encoding="utf-8")
    listing.write_text(template.replace("{secret}", secret.as_uri()), encoding="utf-8")
    config = base_config(tmp_path)
    before = config.read_bytes()
    for extra in ((), ("--dry-run",), ("--allow-files",)):
        result = cli.run("--config", str(config), "opml", "import", str(listing), *extra)
        line = one_line_error(result)
        assert "refused: its DOCTYPE declares entities" in line
        assert "s3cr3t" not in result.stdout + result.stderr
    assert config.read_bytes() == before
    # Parsed straight, the entity stays a reference: nothing was read to refuse.
    with pytest.raises(opml.OpmlError, match="line 2: refused"):
        opml.read_opml(listing.read_bytes(), "xxe.opml")


class _Canary(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Canary.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml-dtd")
        self.end_headers()
        self.wfile.write(b'<!ENTITY leak "fetched">')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def canary() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Canary.hits = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_external_dtds_and_entities_are_never_fetched(
    canary: str, tmp_path: Path, cli: Cli
) -> None:
    listing = tmp_path / "remote.opml"
    template = (FIXTURES / "xxe-over-http.opml").read_text(encoding="utf-8")
    listing.write_text(template.replace("{base}", canary), encoding="utf-8")
    config = base_config(tmp_path)
    before = config.read_bytes()
    line = one_line_error(cli.run("--config", str(config), "opml", "import", str(listing)))
    assert "line 2: refused: its DOCTYPE declares entities" in line
    only_dtd = tmp_path / "only-dtd.opml"
    only_dtd.write_text(
        f'<?xml version="1.0"?>\n\n<!DOCTYPE opml SYSTEM "{canary}/canary/dtd">\n'
        '<opml version="2.0"><body><outline xmlUrl="https://x.example/rss"/></body></opml>',
        encoding="utf-8",
    )
    line = one_line_error(cli.run("--config", str(config), "opml", "import", str(only_dtd)))
    assert "line 3: refused: its DOCTYPE declares entities or names an external DTD" in line
    assert _Canary.hits == []
    assert config.read_bytes() == before


def test_a_plain_doctype_is_harmless_and_accepted(tmp_path: Path, cli: Cli) -> None:
    listing = tmp_path / "plain.opml"
    listing.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE opml>\n<opml version="2.0"><body>'
        '<outline text="Plain" xmlUrl="https://plain.example/rss"/></body></opml>',
        encoding="utf-8",
    )
    result = cli.run("--config", str(base_config(tmp_path)), "opml", "import", str(listing))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"added 1 source to {tmp_path / 'aggregator.toml'}: plain\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "malformed.opml",
            "line 9: not well-formed XML: Opening and ending tag mismatch: outline line 7 and body",
        ),
        ("not-opml.xml", "line 2: expected an <opml> document, got <rss>"),
        ("no-body.opml", "no <body> in the <opml> document (expected the outlines there)"),
    ],
)
def test_a_broken_file_is_one_line_naming_it(
    name: str, expected: str, tmp_path: Path, cli: Cli
) -> None:
    config = base_config(tmp_path)
    before = config.read_bytes()
    source = str(RELATIVE / name)
    for extra in ((), ("--dry-run",)):
        result = cli.run("--config", str(config), "opml", "import", source, *extra)
        assert one_line_error(result) == f"aggregator: error: {source}: {expected}"
        assert result.stdout == ""
    assert config.read_bytes() == before and leftovers(tmp_path) == []


def test_a_malformed_file_exits_2_with_one_line_end_to_end(tmp_path: Path) -> None:
    """The exit status and the stderr line as a shell sees them, from a process of its own."""
    config = base_config(tmp_path)
    before = config.read_bytes()
    source = str(RELATIVE / "malformed.opml")
    result = decoded(run_process("--config", str(config), "opml", "import", source))
    assert one_line_error(result) == (
        f"aggregator: error: {source}: line 9: not well-formed XML: "
        "Opening and ending tag mismatch: outline line 7 and body"
    )
    assert result.stdout == ""
    assert config.read_bytes() == before and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty file (expected an OPML document)"),
        (b"\x00\xff\xfe junk \x01", "line 1: not well-formed XML: "),
        (b'<opml version="2.0"><body><outline text="&nbsp;"/></body></opml>', "'nbsp'"),
        (b"<opml>" + b"<outline>" * 300, "not well-formed XML"),
        (b"<opml><body>" + b" " * opml.MAX_BYTES + b"</body></opml>", "larger than 10 MiB"),
    ],
    ids=["empty", "junk", "undefined-entity", "too-deep", "too-large"],
)
def test_junk_is_refused(data: bytes, expected: str, tmp_path: Path, cli: Cli) -> None:
    listing = tmp_path / "junk.opml"
    listing.write_bytes(data)
    config = base_config(tmp_path)
    before = config.read_bytes()
    line = one_line_error(cli.run("--config", str(config), "opml", "import", str(listing)))
    assert line.startswith(f"aggregator: error: {listing}: ")
    assert expected in line
    assert config.read_bytes() == before


def test_deep_but_reasonable_folders_are_fine(tmp_path: Path, cli: Cli) -> None:
    listing = tmp_path / "deep.opml"
    depth = 100
    listing.write_text(
        "<opml><body>"
        + "".join(f'<outline text="f{i}">' for i in range(depth))
        + '<outline text="Deep" xmlUrl="https://deep.example/rss"/>'
        + "</outline>" * depth
        + "</body></opml>",
        encoding="utf-8",
    )
    result = cli.run(
        "--config", str(base_config(tmp_path)), "opml", "import", str(listing), "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert "# Folder: f0 / f1 / f2" in result.stdout and "/ f99\n" in result.stdout


def test_a_missing_opml_file_is_named(tmp_path: Path, cli: Cli) -> None:
    config = base_config(tmp_path)
    line = one_line_error(
        cli.run("--config", str(config), "opml", "import", str(tmp_path / "x.opml"))
    )
    assert (
        line == f"aggregator: error: cannot read {tmp_path / 'x.opml'}: No such file or directory"
    )


def test_titles_and_folders_cannot_inject_toml(tmp_path: Path, cli: Cli) -> None:
    """Newlines in a folder name would end the comment; quotes in a title the string."""
    listing = tmp_path / "inject.opml"
    listing.write_text(
        '<opml version="2.0"><body><outline text="x&#10;[storage]&#10;url = &quot;y&quot;">'
        '<outline text="t&quot;&#10;url = &quot;file:///etc/passwd" '
        'xmlUrl="https://inject.example/rss"/></outline></body></opml>',
        encoding="utf-8",
    )
    config = base_config(tmp_path)
    result = cli.run("--config", str(config), "opml", "import", str(listing))
    assert result.returncode == 0, result.stderr
    settings = load_settings(config, environ={})
    assert settings.database_url.endswith(f"{tmp_path}/agg.db")
    added = settings.sources[-1]
    assert added.url == "https://inject.example/rss"
    assert added.title == 't" url = "file:///etc/passwd'
    assert '# Folder: x [storage] url = "y"\n' in config.read_text(encoding="utf-8")
