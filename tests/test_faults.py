"""Every check can fail: each behavior that the healthy reference meets turns non-PASS
under at least one injected fault (the rest already fail on the reference itself).

One test per spec file, so xdist workers share the work."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from harness.fault_coverage import check
from harness.spec import load_all
from harness.spec.model import Behavior

ROOT = Path(__file__).resolve().parents[1]


@cache
def _behaviors() -> tuple[Behavior, ...]:
    return tuple(load_all(ROOT / "specs", ROOT / "cases"))


@pytest.mark.parametrize("spec", sorted({Path(b.source).name for b in _behaviors()}))
def test_every_behavior_is_shown_to_fail(spec: str) -> None:
    rows = check([b for b in _behaviors() if Path(b.source).name == spec])
    errors = [f"{r.behavior}: {r.healthy}" for r in rows if r.healthy == "ERROR"]
    assert not errors, f"the healthy impl run broke: {errors}"
    missing = [r.behavior for r in rows if not r.shown]
    assert not missing, f"no fault breaks these behaviors (their checks cannot fail): {missing}"
