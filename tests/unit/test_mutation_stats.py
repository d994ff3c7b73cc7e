"""mutation/run.py forgets mutmut's test-to-function map when a staged test is newer than it."""

from __future__ import annotations

import os
from pathlib import Path

from mutation.run import _forget_stale_stats


def _staged(tmp_path: Path, test_mtime: float, stats_mtime: float) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "mutants").mkdir()
    test, stats = tmp_path / "tests" / "test_a.py", tmp_path / "mutants" / "mutmut-stats.json"
    test.write_text("")
    stats.write_text("{}")
    os.utime(test, (test_mtime, test_mtime))
    os.utime(stats, (stats_mtime, stats_mtime))
    return stats


def test_a_test_newer_than_the_map_drops_it(tmp_path: Path) -> None:
    stats = _staged(tmp_path, test_mtime=2_000, stats_mtime=1_000)
    _forget_stale_stats(tmp_path)
    assert not stats.exists()


def test_a_map_newer_than_every_test_is_kept(tmp_path: Path) -> None:
    stats = _staged(tmp_path, test_mtime=1_000, stats_mtime=2_000)
    _forget_stale_stats(tmp_path)
    assert stats.exists()
