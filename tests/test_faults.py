"""Every check can fail: each behavior that the healthy reference meets turns non-PASS
under at least one injected fault (the rest already fail on the reference itself).

One test per part of a spec file (at most CHUNK behaviors), so xdist workers share the work.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from harness.fault_coverage import check
from harness.spec import load_all
from harness.spec.model import Behavior

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 12  # behaviors per test: the slowest file (server timeouts) alone was the suite's tail


@cache
def _behaviors() -> tuple[Behavior, ...]:
    return tuple(load_all(ROOT / "specs", ROOT / "cases"))


def _parts() -> list[tuple[str, int]]:
    sizes: dict[str, int] = {}
    for b in _behaviors():
        sizes[Path(b.source).name] = sizes.get(Path(b.source).name, 0) + 1
    return [(spec, k) for spec, n in sorted(sizes.items()) for k in range(0, n, CHUNK)]


@pytest.mark.parametrize("spec, start", _parts())
def test_every_behavior_is_shown_to_fail(spec: str, start: int) -> None:
    rows = check([b for b in _behaviors() if Path(b.source).name == spec][start:start + CHUNK])
    errors = [f"{r.behavior}: {r.healthy}" for r in rows if r.healthy == "ERROR"]
    assert not errors, f"the healthy impl run broke: {errors}"
    missing = [r.behavior for r in rows if not r.shown]
    assert not missing, f"no fault breaks these behaviors (their checks cannot fail): {missing}"
