"""Every check can fail: for each behavior, find a fault under which impl stops passing.

Runs each behavior on the healthy impl target, then on impl with each fault in turn
until one turns the behavior non-PASS (behaviors already broken are not run again).
Used by `python -m harness faults --check` and tests/test_faults.py. No reruns: any
non-PASS status shows the check can fail, so telling FLAKY from FAIL (two more runs of a
failing example, each TIMEOUT waiting its whole timeout) buys nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import settings

from harness.runner import Session
from harness.spec.model import Behavior
from harness.status import Kind, names
from harness.targets import registry
from harness.targets.impl.faults import FAULTS

HEALTHY = names(Kind.HEALTHY, Kind.DECLARED)


@dataclass
class Coverage:
    behavior: str
    healthy: str  # status on impl without a fault
    fault: str | None = None  # the first fault that broke it
    broken: str | None = None  # the status under that fault
    message: str = ""

    @property
    def shown(self) -> bool:
        """A non-PASS verdict was seen: under a fault, or on the healthy reference itself."""
        return self.fault is not None or self.healthy not in HEALTHY


def check(behaviors: list[Behavior], max_examples: int = 3, seed: int = 0,
          log: Callable[[str], None] = lambda _m: None) -> list[Coverage]:
    quick = settings(max_examples=max_examples, deadline=None)
    results: dict[str, Coverage] = {}
    target = registry.fault_target()
    healthy = Session([target], session_seed=seed, base_settings=quick, reruns=0)
    try:
        for b in behaviors:
            cell = healthy.run_cell(b, target)
            results[b.id] = Coverage(b.id, cell.status)
    finally:
        healthy.close()
    for name in FAULTS:
        todo = [b for b in behaviors if results[b.id].healthy in HEALTHY and results[b.id].fault is None]
        if not todo:
            break
        session = Session([target], session_seed=seed, base_settings=quick, fault=name, reruns=0)
        try:
            for b in todo:
                cell = session.run_cell(b, target)
                if cell.status not in HEALTHY and cell.status != results[b.id].healthy:
                    results[b.id].fault, results[b.id].broken = name, cell.status
                    results[b.id].message = cell.message
        finally:
            session.close()
        log(f"fault {name}: {sum(1 for r in results.values() if r.fault == name)} behaviors broken")
    return list(results.values())
