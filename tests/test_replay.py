"""Replay is exact: the log alone reproduces every document, at every position.

A multi-poll history is built (first collect, an edit, a new update on top,
a failing source, a recovery). Then:
* replaying into emptied SQL projections reproduces the feed file byte for byte;
* after every collect, `feed --as-of <head>` (a fold in memory) equals the
  feed file the collect wrote;
* for every position P, the in-memory fold up to P equals the persisted SQL
  projection rebuilt up to P, and is a valid feed.
"""

from __future__ import annotations

from pathlib import Path

from aggregator.cli.main import main
from aggregator.publish.files import render_merged
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryReadModel
from tests.atom_checks import atom_problems
from tests.conftest import Project
from tests.session import PipelineSession
from tests.support import AJ_SEED, DK_SEED, ManualClock

NEW_UPDATE = (
    "20:15 GMT – Armenia reports more casualties\n\n"
    "Armenia's defence ministry said more of its soldiers had been killed.\n\n"
)


def build_history(project: Project, clock: ManualClock) -> tuple[PipelineSession, dict[int, bytes]]:
    """Five collects with edits between them; returns the feed written after each."""
    session = PipelineSession(project.settings(), clock)
    written: dict[int, bytes] = {}
    aj, dk = project.seeds / AJ_SEED, project.seeds / DK_SEED
    dk_text = dk.read_text(encoding="utf-8")

    def step(minutes: int) -> None:
        clock.advance(minutes=minutes)
        session.collect()
        written[session.store.log.head()] = session.feed_file()

    step(0)
    text = aj.read_text(encoding="utf-8")
    aj.write_text(
        text.replace("Russia calls for ceasefire and talks", "Russia calls for a ceasefire"),
        "utf-8",
    )
    step(10)
    text = aj.read_text(encoding="utf-8")
    aj.write_text(
        text.replace(
            "Here are the latest updates:\n\n", "Here are the latest updates:\n\n" + NEW_UPDATE
        ),
        "utf-8",
    )
    step(10)
    dk.unlink()
    step(10)
    dk.write_text(
        dk_text.replace("Update 7:09pm EST", "Update 7:09pm EST\n\nA correction was added."),
        "utf-8",
    )
    step(10)
    return session, written


def test_replay_from_empty_projections_reproduces_the_feed_bytes(
    project: Project, clock: ManualClock
) -> None:
    session, written = build_history(project, clock)
    final = written[max(written)]
    session.store.read_model.reset()
    assert session.store.read_model.entries() == []
    catch_up(session.store.log, session.store.read_model)
    assert session.rendered() == final
    session.close()


def test_feed_as_of_each_collect_equals_the_feed_written_then(
    project: Project, clock: ManualClock
) -> None:
    session, written = build_history(project, clock)
    assert len(written) == 5
    for head, document in written.items():
        model = MemoryReadModel()
        catch_up(session.store.log, model, upto=head)
        assert render_merged(session.settings, model) == document, head
    session.close()


def test_every_position_memory_fold_equals_persisted_projection(
    project: Project, clock: ManualClock
) -> None:
    session, _ = build_history(project, clock)
    head = session.store.log.head()
    assert head > 50
    sql_model = session.store.read_model
    for position in range(1, head + 1):
        memory = MemoryReadModel()
        catch_up(session.store.log, memory, upto=position)
        sql_model.reset()
        catch_up(session.store.log, sql_model, upto=position)
        expected = render_merged(session.settings, sql_model)
        assert render_merged(session.settings, memory) == expected, position
        assert memory.sources() == sql_model.sources(), position
        if position % 10 == 0 or position == head:
            assert atom_problems(expected) == [], position
    session.close()


def test_cli_replay_and_as_of_agree_with_the_written_feed(
    project: Project, clock: ManualClock, tmp_path: Path, capsys: object
) -> None:
    session, written = build_history(project, clock)
    session.close()
    config = ["--config", str(project.config)]
    first_head = min(written)
    out = tmp_path / "as-of.atom"
    assert main([*config, "feed", "--as-of", str(first_head), "--output", str(out)]) == 0
    assert out.read_bytes() == written[first_head]
    assert main([*config, "replay"]) == 0
    assert (project.output / "feed.atom").read_bytes() == written[max(written)]
    assert main([*config, "replay", "--until", str(first_head)]) == 0
    assert (project.output / "feed.atom").read_bytes() == written[first_head]
