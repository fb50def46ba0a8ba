"""The CI gate: compare a run's results with a committed baseline per target.

A baseline (reports/baselines/<target>.json) maps behavior id -> accepted status (or a
list of statuses, for a behavior known to vary between runs: `gate --update --merge`). The
gate fails on a regression: a behavior whose status is now worse than the baseline
(PASS -> FAIL, UNSUPPORTED -> FAIL, PASS -> FLAKY, anything -> ERROR/CRASH/TIMEOUT), or a
required behavior missing from the run. Worse is the status table's severity
(harness/status.py): FLAKY ranks between the conforming statuses and FAIL. An improvement (FAIL -> PASS) passes but is reported as
news, so the baseline can be tightened with `python -m harness gate --update`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.status import STATUS, Kind
from harness.verdict import worst

BASELINE_SCHEMA = "node-http-conformance/baseline/v1"


@dataclass
class GateReport:
    target: str
    regressions: list[str] = field(default_factory=list)
    improvements: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    no_baseline: Path | None = None  # where the baseline should be; nothing was compared

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.missing and self.no_baseline is None

    def lines(self) -> list[str]:
        if self.no_baseline is not None:
            return [f"gate {self.target}: no baseline at {self.no_baseline} (create one with --update)"]
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
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("schema") != BASELINE_SCHEMA:
        raise ValueError(f"{path}: not a baseline (schema {doc.get('schema')!r})")
    return doc


def baseline_path(base_dir: Path, target: str) -> Path:
    return base_dir / f"{target}.json"


def gate_all(doc: dict[str, Any], targets: list[str], base_dir: Path) -> list[GateReport]:
    """One report per target, against base_dir/<target>.json."""
    reports = []
    for target in targets:
        path = baseline_path(base_dir, target)
        reports.append(gate(doc, load_baseline(path)) if path.exists() else GateReport(target, no_baseline=path))
    return reports


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
        worst_accepted = worst(accepted)
        shown = "|".join(accepted)
        # SKIP ranks lowest, but losing coverage is a regression too.
        got = STATUS[status]
        if got.severity > STATUS[worst_accepted].severity or got.kind in (Kind.ERROR, Kind.SKIP):
            report.regressions.append(f"{bid}: {shown} -> {status}: {rec['message'][:200]}")
        else:
            report.improvements.append(f"{bid}: {shown} -> {status}")
    report.new = sorted(set(now) - set(baseline["statuses"]))
    return report
