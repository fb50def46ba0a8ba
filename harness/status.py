"""The status table: every status a cell can get, and everything the harness does with it.

The verdict, the runner, the pytest plugin, the CLI, the gate and every renderer read this
table; no other module lists statuses. A status belongs to one kind, and the kind decides
the pytest outcome (README, "What fails the pytest run").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    HEALTHY = "healthy"    # behaves as Node
    DECLARED = "declared"  # a documented limitation of fetch-backed targets, met cleanly
    FINDING = "finding"    # differs from Node: shown in the matrix
    FLAKY = "flaky"        # failed, then not on every rerun: neither PASS nor FAIL
    ERROR = "error"        # the harness or its set-up broke, never the target's fault
    SKIP = "skip"          # not applicable to this target


class Outcome(StrEnum):
    PASSED = "passed"
    SKIPPED = "skipped"
    # failed on the baseline target at level `required` (the spec is wrong) or with
    # --findings=fail; xfailed otherwise
    FINDING = "failed on the baseline, else xfailed"
    FAILED = "failed"
    XFAILED = "xfailed"  # whatever the target: a flaky cell is news, not a verdict


OUTCOME = {Kind.HEALTHY: Outcome.PASSED, Kind.DECLARED: Outcome.PASSED, Kind.FINDING: Outcome.FINDING,
           Kind.FLAKY: Outcome.XFAILED, Kind.ERROR: Outcome.FAILED, Kind.SKIP: Outcome.SKIPPED}


@dataclass(frozen=True)
class Status:
    name: str
    severity: int  # the highest wins when a cell's examples fold into one status
    kind: Kind
    colour: str  # HTML cell background
    label: str  # what a matrix cell shows
    meaning: str  # the legend
    shrinks: bool = False  # a failing example is shrunk; TIMEOUT/CRASH/ERROR would cost a wait per step

    @property
    def outcome(self) -> Outcome:
        return OUTCOME[self.kind]

    @property
    def conforms(self) -> bool:
        """Behaves as Node, or as declared for fetch-backed targets."""
        return self.kind in (Kind.HEALTHY, Kind.DECLARED)

    @property
    def failing(self) -> bool:
        """Stops a cell's search: a finding or an error."""
        return self.kind in (Kind.FINDING, Kind.ERROR)

    @property
    def rerun(self) -> bool:
        """A failing example is run again before the cell is reported (FLAKY if it passes once)."""
        return self.kind is Kind.FINDING

    @property
    def detailed(self) -> bool:
        """Listed in the matrix details with a repro file and commands."""
        return self.kind not in (Kind.HEALTHY, Kind.SKIP)


# In display order (matrix summary columns).
TABLE = (
    Status("PASS", 1, Kind.HEALTHY, "#c8f0c8", "PASS", "behaves as Node"),
    Status("UNSUPPORTED", 3, Kind.DECLARED, "#dde6f7", "UNSUPPORTED",
           "a documented fetch-backed limitation met cleanly"),
    Status("NOOP", 2, Kind.DECLARED, "#e8e0f5", "NOOP", "accepted and ignored, as declared"),
    # Between the conforming statuses and FAIL: PASS -> FLAKY is a regression for the gate.
    Status("FLAKY", 4, Kind.FLAKY, "#f5ecb8", "FLAKY", "failed, then passed when run again"),
    Status("FAIL", 5, Kind.FINDING, "#f7c6c6", "FAIL", "differs from Node", shrinks=True),
    Status("TIMEOUT", 6, Kind.FINDING, "#f9dfb5", "TIMEOUT", "the target hung"),
    Status("CRASH", 7, Kind.FINDING, "#f2a6a6", "CRASH", "the target's process died"),
    Status("ERROR", 8, Kind.ERROR, "#d9d9d9", "ERROR", "the harness broke"),
    Status("SKIP", 0, Kind.SKIP, "#f4f4f4", "SKIP", "not applicable"),
)
STATUS = {s.name: s for s in TABLE}
# How many times a finding's example runs again before it is reported (pytest and the CLI: --reruns).
DEFAULT_RERUNS = 2
NAMES = tuple(STATUS)


def names(*kinds: Kind) -> frozenset[str]:
    return frozenset(s.name for s in TABLE if s.kind in kinds)

