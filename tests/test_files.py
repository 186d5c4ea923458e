"""The one file writer (`core.files`), on real files in a temporary directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aggregator.core.files import replacement, write_atomic, write_stream


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomic_writes_once_and_leaves_unchanged_bytes_alone(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "feed.atom"
    assert write_atomic(path, b"one") is True
    os.utime(path, (1_000_000, 1_000_000))
    assert write_atomic(path, b"one") is False
    assert path.stat().st_mtime == 1_000_000  # not rewritten
    assert write_atomic(path, b"two") is True
    assert path.read_bytes() == b"two" and _mode(path) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["feed.atom"]  # no temporary left


def test_a_replacement_not_committed_leaves_the_target_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "agg.toml"
    target.write_bytes(b"before")
    with pytest.raises(RuntimeError), replacement(target, [b"after"]) as new:
        assert new.staged.read_bytes() == b"after" and new.staged.parent == tmp_path
        raise RuntimeError("the check refused it")
    assert target.read_bytes() == b"before"
    assert [p.name for p in tmp_path.iterdir()] == ["agg.toml"]


def test_a_commit_can_keep_the_targets_mode(tmp_path: Path) -> None:
    target = tmp_path / "agg.toml"
    target.write_bytes(b"before")
    target.chmod(0o640)
    with replacement(target, [b"af", b"ter"]) as new:
        new.commit(mode=None, keep_owner=True, sync=True)
    assert target.read_bytes() == b"after" and _mode(target) == 0o640
    write_stream(target, [b"again"])
    assert _mode(target) == 0o644
