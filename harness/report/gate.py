"""The CI gate: compare a run's results with a committed baseline per target.

A baseline (reports/baselines/<target>.json) maps behavior id -> accepted status (or a
list of statuses, for a behavior known to vary between runs: `gate --update --merge`). The
gate fails on a regression: a behavior whose status is now worse than the baseline
(PASS -> FAIL, UNSUPPORTED -> FAIL, anything -> ERROR/CRASH/TIMEOUT), or a required
behavior missing from the run. An improvement (FAIL -> PASS) passes but is reported as
news, so the baseline can be tightened with `python -m harness gate --update`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.verdict import SEVERITY

BASELINE_SCHEMA = "node-http-conformance/baseline/v1"


@dataclass
class GateReport:
    target: str
    regressions: list[str] = field(default_factory=list)
    improvements: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.missing

    def lines(self) -> list[str]:
        out = [f"gate {self.target}: {'PASS' if self.ok else 'FAIL'}"]
        out += [f"  regression: {x}" for x in self.regressions]
        out += [f"  missing from run: {x}" for x in self.missing]
        out += [f"  improvement (update the baseline): {x}" for x in self.improvements]
        out += [f"  new behavior (not in baseline): {x}" for x in self.new]
        return out


def baseline_from(doc: dict[str, Any], target: str, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The statuses of this run; with `previous`, a behavior whose status changed keeps
    both (listed), so a behavior that varies between runs does not flap the gate."""
    statuses: dict[str, Any] = {r["behavior"]: r["status"] for r in doc["results"] if r["target"] == target}
    for bid, old in (previous or {}).get("statuses", {}).items():
        if bid in statuses:
            merged = sorted(set(old if isinstance(old, list) else [old]) | {statuses[bid]})
            statuses[bid] = merged[0] if len(merged) == 1 else merged
    version = doc.get("targets", {}).get(target, {}).get("version")
    return {"schema": BASELINE_SCHEMA, "target": target, "target_version": version,
            "statuses": dict(sorted(statuses.items()))}


def load_baseline(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("schema") != BASELINE_SCHEMA:
        raise ValueError(f"{path}: not a baseline (schema {doc.get('schema')!r})")
    return doc


def gate(doc: dict[str, Any], baseline: dict[str, Any]) -> GateReport:
    target = baseline["target"]
    report = GateReport(target)
    now = {r["behavior"]: r for r in doc["results"] if r["target"] == target}
    for bid, accepted_any in baseline["statuses"].items():
        rec = now.get(bid)
        if rec is None:
            report.missing.append(bid)
            continue
        # A behavior known to vary between runs lists every status it is accepted with.
        accepted = accepted_any if isinstance(accepted_any, list) else [accepted_any]
        status = rec["status"]
        if status in accepted:
            continue
        worst_accepted = max(accepted, key=lambda s: SEVERITY[s])
        shown = "|".join(accepted)
        # SKIP ranks lowest, but losing coverage is a regression too.
        if SEVERITY[status] > SEVERITY[worst_accepted] or status in ("ERROR", "SKIP"):
            report.regressions.append(f"{bid}: {shown} -> {status}: {rec['message'][:200]}")
        else:
            report.improvements.append(f"{bid}: {shown} -> {status}")
    report.new = sorted(set(now) - set(baseline["statuses"]))
    return report
