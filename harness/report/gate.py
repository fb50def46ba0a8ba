"""The CI gate: compare a run's results with a committed baseline per target.

A baseline (reports/baselines/<target>.json) maps behavior id -> accepted status (or a
list of statuses, for a behavior known to vary between runs: `gate --update --merge`). The
gate fails on a regression: a behavior whose status is now worse than the baseline
(PASS -> FAIL, UNSUPPORTED -> FAIL, PASS -> FLAKY, anything -> ERROR/CRASH/TIMEOUT). Worse is the status table's severity
(harness/status.py): FLAKY ranks between the conforming statuses and FAIL. An improvement (FAIL -> PASS) passes but is reported as
news, so the baseline can be tightened with `python -m harness gate --update`.

Exit codes (the `gate` command and `pytest --gate` alike, :func:`exit_code`): 0 nothing
regressed; 1 a regression; 2 the run cannot be judged (:func:`unusable`): a target missing
from it, ERROR cells, an interrupted run, a run that lacks behaviors of the baseline (a
partial run), or no baseline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import BadInput
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
    both (listed), so a behavior that varies between runs does not flap the gate, and a
    behavior accepted before but absent from this run (a -k slice, a shard) keeps its entry."""
    statuses: dict[str, Any] = {r["behavior"]: r["status"] for r in doc["results"] if r["target"] == target}
    for bid, old in (previous or {}).get("statuses", {}).items():
        accepted = set(old if isinstance(old, list) else [old])
        merged = sorted(accepted | {statuses[bid]}) if bid in statuses else sorted(accepted)
        statuses[bid] = merged[0] if len(merged) == 1 else merged
    version = doc.get("targets", {}).get(target, {}).get("version")
    return {"schema": BASELINE_SCHEMA, "target": target, "target_version": version,
            "statuses": dict(sorted(statuses.items()))}


class BaselineError(BadInput, ValueError):
    """A baseline file that cannot be read; the message says which and what to do."""


def load_baseline(path: Path) -> dict[str, Any]:
    hint = "fix it or write it again with `python -m harness gate --update`"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read the baseline ({exc.strerror}); {hint}") from None
    except ValueError as exc:
        raise BaselineError(f"{path}: the baseline is not JSON ({exc}); {hint}") from None
    if not isinstance(doc, dict) or doc.get("schema") != BASELINE_SCHEMA or not isinstance(doc.get("statuses"), dict):
        schema = doc.get("schema") if isinstance(doc, dict) else None
        raise BaselineError(f"{path}: not a baseline (schema {schema!r}, expected {BASELINE_SCHEMA!r}); {hint}")
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


def unusable(doc: dict[str, Any], targets: list[str], reports: list[GateReport]) -> list[str]:
    """Why this run cannot be gated (empty: it can): each reason one line."""
    reasons = []
    if doc.get("complete") is False:
        reasons.append("the run was interrupted before every cell ran; run it again to the end")
    if doc.get("shards_missing") or doc.get("shard"):
        missing = ", ".join(map(str, doc.get("shards_missing") or [])) or "the others"
        reasons.append(f"the results hold shard {doc.get('shard')} of a run, not all of it (missing: {missing}); "
                       f"merge every shard first: python -m harness merge A/results.json B/results.json ...")
    ran: dict[str, set[str]] = {}
    for r in doc["results"]:
        ran.setdefault(r["target"], set()).add(r["behavior"])
    for target in targets:
        if target not in ran:
            reasons.append(f"target {target} is missing from the run (it ran: {', '.join(sorted(ran)) or 'nothing'})")
        errors = [r for r in doc["results"] if r["target"] == target and STATUS[r["status"]].kind is Kind.ERROR]
        if errors:
            first = errors[0]
            reasons.append(f"{len(errors)} ERROR cell(s) on {target}, e.g. {first['behavior']}: "
                           f"{' '.join(str(first['message']).split())[:300]}")
    for report in reports:
        if report.no_baseline is not None:
            reasons.append(f"no baseline for {report.target} at {report.no_baseline} "
                           f"(create one with `python -m harness gate --update --target {report.target}`)")
        elif report.missing and report.target in ran:
            reasons.append(f"{len(report.missing)} baselined behavior(s) of {report.target} missing from the run "
                           f"(a partial run?), e.g. {', '.join(report.missing[:3])}")
    return reasons


def exit_code(reports: list[GateReport], reasons: list[str]) -> int:
    """0 nothing regressed, 1 a regression, 2 the run cannot be judged."""
    if reasons:
        return 2
    return 1 if any(r.regressions for r in reports) else 0
