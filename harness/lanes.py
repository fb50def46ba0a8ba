"""The xdist scheduler of a suite run (`pytest -n W --dist loadgroup --target ...`).

Most of a run's wall time is a few behaviors that wait (timeouts, delays, hung targets:
in a five-target ci run 71 of 420 behaviors took 75 % of the cells' wall time and 26 % of
the workers' CPU), while the many short ones keep the CPU busy. xdist's own order sent
them out as they came, so the workers met the waiting ones together and the cores idled
(31-39 % on average, 80-90 % for seconds at a time), and a long one dealt out last made the
tail. Here the units (a behavior's cells, harness/parallel.py) are dealt by their measured
duration (reports/durations.json): the longest waiting unit first, but never to more than
`lanes` workers at once, the others taking the short units meanwhile, longest first too.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import pytest
from xdist.scheduler.loadgroup import LoadGroupScheduling

from harness.durations import Durations

HEAVY = 5.0  # a unit that waits: at least this many times the median unit's duration


def cell_of(nodeid: str) -> tuple[str, str] | None:
    """(behavior, target) of a cell's node id, `specs/x.yaml::<behavior>[<target>]@<group>`."""
    at = nodeid.rfind("@")
    name = (nodeid[:at] if at > nodeid.rfind("]") else nodeid).rsplit("::", 1)[-1]
    if not name.endswith("]") or "[" not in name:
        return None
    behavior, target = name[:-1].split("[", 1)
    return behavior, target


def lanes_for(workers: int, cores: int) -> int:
    """How many workers may hold a waiting unit at once: all but those the short units need to
    keep the cores busy, a core's worth and one more (a worker and its runtime take turns, so
    one worker keeps about one core busy). Measured on 2 cores, five targets, ci profile: 10
    workers with 7 lanes 78 s, with 8 lanes 78 s; 8 workers with 6 lanes 89 s, with 7 (one
    worker for the short units) 94 s."""
    short = cores + 1
    return max(1, workers - short) if workers > short else max(1, workers // 2)


def heavy_units(costs: Mapping[str, float]) -> set[str]:
    median = statistics.median(costs.values()) if costs else 0.0
    return {scope for scope, cost in costs.items() if cost >= HEAVY * median and cost > 0}


def pick(waiting: list[str], costs: Mapping[str, float], heavy: AbstractSet[str], heavy_busy: int,
         lanes: int) -> str:
    """The unit to deal next: the longest heavy one while fewer than `lanes` workers hold one
    (or no short one is left), else the longest short one."""
    long = [s for s in waiting if s in heavy]
    short = [s for s in waiting if s not in heavy]
    chosen = long if long and (heavy_busy < lanes or not short) else short
    return max(chosen, key=lambda scope: costs.get(scope, 0.0))  # max keeps the first of equals


def unmeasured_line(behaviors: list[str], path: str) -> str:
    """The summary's word on behaviors the durations file lacks."""
    shown = ", ".join(behaviors[:3]) + (", ..." if len(behaviors) > 3 else "")
    return (f"{len(behaviors)} behavior(s) not in {path} were dealt to the workers as estimates ({shown}): "
            f"after a ci-profile run, refresh it with `python -m harness durations`")


class Lanes(LoadGroupScheduling):
    def __init__(self, config: pytest.Config, log: Any, durations: Durations) -> None:
        super().__init__(config, log)
        self.durations = durations
        self.costs: dict[str, float] = {}
        self.heavy: set[str] = set()
        self.lanes = 0
        self.unmeasured: list[str] = []  # behaviors the durations lack: dealt as estimates

    def _assign_work_unit(self, node: Any) -> None:
        if not self.costs:  # the first deal: the work queue is complete
            cells = {scope: [c for c in map(cell_of, unit) if c is not None] for scope, unit in self.workqueue.items()}
            self.costs = {scope: self.durations.unit(unit) for scope, unit in cells.items()}
            self.unmeasured = sorted({b for unit in cells.values() for b, _ in unit} - set(self.durations.seconds))
            self.heavy = heavy_units(self.costs)
            self.lanes = lanes_for(self.numnodes, len(os.sched_getaffinity(0)))
        busy = sum(1 for work in self.assigned_work.values()
                   if any(scope in self.heavy and not all(unit.values()) for scope, unit in work.items()))
        self.workqueue.move_to_end(pick(list(self.workqueue), self.costs, self.heavy, busy, self.lanes), last=False)
        super()._assign_work_unit(node)
