"""The loaded-spec cache (harness/spec/cache.py): a hit gives what a load gives, a changed
file is loaded afresh, a failing file is never cached, HARNESS_SPEC_CACHE=0 bypasses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.spec import SpecError, cache, load_spec_file

ROOT = Path(__file__).resolve().parents[1]
SPEC = (ROOT / "specs" / "methods.yaml").read_text(encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path stands in for the repository: its files are cached under its .cache/."""
    monkeypatch.setattr(cache, "REPO", tmp_path)
    monkeypatch.setattr(cache, "CACHE_DIR", tmp_path / ".cache" / "specs")
    monkeypatch.delenv("HARNESS_SPEC_CACHE", raising=False)
    return tmp_path


def entries(repo: Path) -> list[Path]:
    return sorted((repo / ".cache" / "specs").glob("*.pickle"))


def test_a_hit_gives_what_a_load_gives(repo: Path) -> None:
    path = repo / "methods.yaml"
    path.write_text(SPEC, encoding="utf-8")
    first = load_spec_file(path)
    assert len(entries(repo)) == 1
    assert load_spec_file(path) == first


def test_a_changed_file_is_loaded_afresh(repo: Path) -> None:
    path = repo / "methods.yaml"
    path.write_text(SPEC, encoding="utf-8")
    before = load_spec_file(path)
    path.write_text("# one line more\n" + SPEC, encoding="utf-8")
    after = load_spec_file(path)
    assert [b.id for b in after] == [b.id for b in before]
    assert [b.line for b in after] == [(b.line or 0) + 1 for b in before]
    assert len(entries(repo)) == 2


def test_a_failing_file_is_not_cached(repo: Path) -> None:
    path = repo / "bad.yaml"
    path.write_text("feature: methods\nbehaviors: [{id: x}]\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(SpecError):
            load_spec_file(path)
    assert entries(repo) == []


def test_turned_off_by_the_environment(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_SPEC_CACHE", "0")
    path = repo / "methods.yaml"
    path.write_text(SPEC, encoding="utf-8")
    load_spec_file(path)
    assert entries(repo) == []
