"""Every check can fail: each behavior that the healthy reference meets turns non-PASS
under at least one injected fault (the rest already fail on the reference itself)."""

from __future__ import annotations

from pathlib import Path

from harness.fault_coverage import check
from harness.spec import load_all

ROOT = Path(__file__).resolve().parents[1]


def test_every_behavior_is_shown_to_fail() -> None:
    behaviors = load_all(ROOT / "specs", ROOT / "cases")
    rows = check(behaviors)
    errors = [f"{r.behavior}: {r.healthy}" for r in rows if r.healthy == "ERROR"]
    assert not errors, f"the healthy impl run broke: {errors}"
    missing = [r.behavior for r in rows if not r.shown]
    assert not missing, f"no fault breaks these behaviors (their checks cannot fail): {missing}"
