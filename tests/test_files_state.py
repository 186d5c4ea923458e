"""A command carries on from what its files reflect (`publish.files`).

Over the seeds read as local files, a real SQLite log and real files: a
second `collect` that changed no entry renders and writes nothing; one after
a source gained an entry renders only what that entry touches, and its files
are byte for byte what a render from scratch gives; whatever could make the
state file lie (other settings, another log, a model behind it, a service
that wrote the files) renders everything, and a missing file is rendered.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.config import Settings
from aggregator.core.files import write_atomic
from aggregator.publish import catalog
from aggregator.publish.catalog import Address, Kind
from aggregator.publish.documents import Update
from aggregator.publish.files import regenerate
from aggregator.publish.live import Publisher
from aggregator.store.base import ReadModel
from aggregator.store.catchup import catch_up
from tests.conftest import Project
from tests.documents import every_document, rendered, written
from tests.session import PipelineSession
from tests.support import AJ_SEED, ManualClock
from tests.test_archive import write_config
from tests.test_cli import run

STATE = ".state.json"
NEW_UPDATE = (
    "20:30 GMT – Mediators propose talks in Geneva\n\n"
    "Mediators have proposed that both delegations meet in Geneva next week.\n\n"
)


@pytest.fixture
def session(project: Project, clock: ManualClock) -> Iterator[PipelineSession]:
    """The seeds collected once, paged so that the merged feed has archive pages."""
    opened = PipelineSession(write_config(project, max_entries=10, archive_size=7), clock)
    opened.collect()
    try:
        yield opened
    finally:
        opened.close()


def stamps(output: Path) -> dict[Path, tuple[int, int]]:
    """Every file under `output`, with its modification time and inode."""
    return {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in output.rglob("*") if p.is_file()}


def documents_on_disk(output: Path) -> dict[Path, bytes]:
    """Every document under `output` by its path below it (the state files aside)."""
    found = (p for p in output.rglob("*") if p.is_file() and p.name != STATE)
    return {p.relative_to(output): p.read_bytes() for p in found}


def with_files(settings: Settings, model: ReadModel) -> set[Address]:
    return {a for a in every_document(settings, model) if catalog.file(settings, a) is not None}


def feeds(settings: Settings, model: ReadModel) -> set[Address]:
    """The documents with a file but the archive pages, which carry on from
    their own state file (`publish.disk`)."""
    return {a for a in with_files(settings, model) if a.row.kind is not Kind.ARCHIVE}


def collect(session: PipelineSession, clock: ManualClock) -> Update:
    """A `collect` five minutes on; what its files follower did."""
    clock.advance(minutes=5)
    session.collect()
    return session.published[-1]


def test_a_collect_that_changed_no_entry_renders_and_writes_nothing(
    session: PipelineSession, clock: ManualClock
) -> None:
    output = session.settings.feed.output_dir
    before = stamps(output)
    assert {output / STATE, output / "archive" / STATE} <= before.keys()
    head = session.store.log.head()
    clock.advance(minutes=5)
    assert all(summary.not_modified for summary in session.collect())
    assert session.store.log.head() > head  # each poll recorded its 304
    update = session.published[-1]
    assert update.rendered == () and update.changed == ()
    assert stamps(output) == before  # not one file rewritten, the state files neither


def test_a_new_entry_renders_what_it_touches_as_a_render_from_scratch_would(
    session: PipelineSession, project: Project, clock: ManualClock, tmp_path: Path
) -> None:
    settings, model = session.settings, session.store.read_model
    output = settings.feed.output_dir
    seed = project.seeds / AJ_SEED
    text = seed.read_text(encoding="utf-8")
    seed.write_text(text.replace("19:50 GMT", NEW_UPDATE + "19:50 GMT", 1), encoding="utf-8")
    before = stamps(output)
    clock.advance(minutes=5)
    assert [(s.source, s.added, s.revised) for s in session.collect()] == [
        ("aljazeera", 1, 0),
        ("dailyknight", 0, 0),
    ]
    update = session.published[-1]
    paging = update.edition.paging
    merged = {Address(row) for row in catalog.rows(Kind.MERGED)}
    source = {Address(row, "aljazeera") for row in catalog.rows(Kind.SOURCE)}
    # The window moved on by one: the entry it let go went to the open page.
    opened = Address(catalog.ARCHIVE_ATOM, str(paging.pages))
    assert set(update.rendered) == merged | source | {opened}
    after = stamps(output)
    for row in catalog.rows(Kind.SOURCE):
        path = written(settings, row, "dailyknight")
        assert after[path] == before[path], path
    for page in range(1, paging.pages):
        path = written(settings, catalog.ARCHIVE_ATOM, str(page))
        assert after[path] == before[path], path
    # A render from scratch into another directory gives the same files.
    fresh = replace(settings, feed=replace(settings.feed, output_dir=tmp_path / "fresh"))
    everything = regenerate(fresh, session.store.log, model)
    assert set(everything.rendered) == with_files(fresh, model)
    assert documents_on_disk(output) == documents_on_disk(fresh.feed.output_dir)


def test_other_settings_render_everything_once(session: PipelineSession) -> None:
    """Any change to `[feed]` or `[[sources]]` renders every feed, even one that
    only polling reads; the archive pages' narrower key renders them all for
    a new title, and none for that."""
    settings, log, model = session.settings, session.store.log, session.store.read_model
    retitled = replace(settings, feed=replace(settings.feed, title="Another title"))
    assert set(regenerate(retitled, log, model).rendered) == with_files(retitled, model)
    assert regenerate(retitled, log, model).rendered == ()
    slower = replace(settings.sources[0], interval=timedelta(minutes=30))
    polled = replace(retitled, sources=(slower, *settings.sources[1:]))
    assert set(regenerate(polled, log, model).rendered) == feeds(polled, model)
    assert regenerate(polled, log, model).rendered == ()


def test_a_missing_file_is_rendered_alone(session: PipelineSession, clock: ManualClock) -> None:
    settings = session.settings
    gone = written(settings, catalog.SOURCE_JSON, "dailyknight")
    gone.unlink()
    update = collect(session, clock)
    assert update.rendered == (Address(catalog.SOURCE_JSON, "dailyknight"),)
    model = session.store.read_model
    assert gone.read_bytes() == rendered(settings, model, catalog.SOURCE_JSON, "dailyknight")


def test_a_model_behind_the_files_renders_everything_then_carries_on(
    session: PipelineSession, tmp_path: Path
) -> None:
    """`replay --until` then `collect`: the files follow the model back, then on."""
    settings, log, model = session.settings, session.store.log, session.store.read_model
    links = [r.position for r in log.read() if r.type == "StoryLinked"]
    model.reset()
    catch_up(log, model, upto=min(links) - 1)
    assert set(regenerate(settings, log, model).rendered) == with_files(settings, model)
    catch_up(log, model)  # the story links: two entries, one on a full page
    update = regenerate(settings, log, model)
    assert 0 < len(update.rendered) < len(with_files(settings, model))
    fresh = replace(settings, feed=replace(settings.feed, output_dir=tmp_path / "fresh"))
    regenerate(fresh, log, model)
    assert documents_on_disk(settings.feed.output_dir) == documents_on_disk(tmp_path / "fresh")


def test_another_log_in_the_same_database_renders_everything(
    project: Project, clock: ManualClock
) -> None:
    """The database deleted and collected into again: as long a log as the
    files' state names, but not the log the files were rendered from."""
    settings = write_config(project, max_entries=10, archive_size=7)
    first = PipelineSession(settings, clock)
    first.collect()
    position = first.store.read_model.checkpoint()
    first.close()
    for path in project.database.parent.glob(project.database.name + "*"):
        path.unlink()
    clock.advance(hours=1)
    second = PipelineSession(settings, clock)
    try:
        second.collect()
        model = second.store.read_model
        assert model.checkpoint() == position
        assert set(second.published[-1].rendered) >= feeds(settings, model)
    finally:
        second.close()


def test_a_service_that_writes_the_files_leaves_no_state_to_carry_on_from(
    session: PipelineSession, clock: ManualClock
) -> None:
    """It writes the feeds without recording what they reflect (and may do so
    under other settings), so the next command renders everything once."""
    settings, log, model = session.settings, session.store.log, session.store.read_model
    publisher = Publisher(settings, log, model, clock, write_files=True)
    try:
        publisher.refresh()
    finally:
        publisher.close()
    assert not (settings.feed.output_dir / STATE).exists()
    assert set(collect(session, clock).rendered) == feeds(settings, model)
    assert collect(session, clock).rendered == ()


def test_a_render_of_everything_stopped_halfway_leaves_no_state_behind(
    session: PipelineSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under a new title every document renders again; stopped after its
    archive pages were written (files are written several at once, so the
    others fail here), neither state file may still vouch for the old title,
    or going back to it would keep those pages."""
    settings, log, model = session.settings, session.store.log, session.store.read_model
    retitled = replace(settings, feed=replace(settings.feed, title="Another title"))
    writes: list[Path] = []

    def full_but_for_archive_pages(path: Path, data: bytes) -> bool:
        if path.parent.name != "archive":
            raise OSError("No space left on device")
        writes.append(path)
        return write_atomic(path, data)

    monkeypatch.setattr("aggregator.core.files.write_atomic", full_but_for_archive_pages)
    with pytest.raises(OSError):
        regenerate(retitled, log, model)
    monkeypatch.undo()
    output = settings.feed.output_dir
    assert writes and writes[0].parent == output / "archive"
    assert not (output / STATE).exists() and not (output / "archive" / STATE).exists()
    assert set(regenerate(settings, log, model).rendered) == with_files(settings, model)
    fresh = replace(settings, feed=replace(settings.feed, output_dir=tmp_path / "fresh"))
    regenerate(fresh, log, model)
    assert documents_on_disk(output) == documents_on_disk(tmp_path / "fresh")


def test_collect_says_how_many_documents_it_rendered(project: Project) -> None:
    config = ("--config", str(project.config))
    lines = [run(*config, command).stdout.splitlines() for command in ("collect", "collect")]
    assert lines[0][-2] == "documents: 6 rendered, 6 written"
    assert lines[1][-2] == "documents: 0 rendered, 0 written"
    # A replay to the head rebuilds the same read model: the files still reflect it.
    replayed = run(*config, "replay").stdout.splitlines()
    assert replayed[-2] == "documents: 0 rendered, 0 written"
    shutil.rmtree(project.output / "sources")
    again = run(*config, "collect").stdout.splitlines()
    assert again[-2] == "documents: 4 rendered, 4 written"
