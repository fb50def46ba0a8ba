"""The matrix: behaviors (rows, grouped by feature) x targets (columns), from a results doc."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.report.causes import CauseRow, group, reference
from harness.status import NAMES, STATUS, Kind


@dataclass
class Row:
    behavior: str
    title: str
    level: str
    catalogue: list[str]
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)  # target -> record


@dataclass
class Matrix:
    targets: list[str]
    features: dict[str, list[Row]]
    counts: dict[str, dict[str, int]]  # target -> status -> n
    meta: dict[str, Any]
    causes: dict[str, list[CauseRow]] = field(default_factory=dict)  # target -> its causes


def build(doc: dict[str, Any]) -> Matrix:
    targets: list[str] = []
    rows: dict[str, Row] = {}
    features: dict[str, list[Row]] = {}
    for rec in doc["results"]:
        if rec["target"] not in targets:
            targets.append(rec["target"])
        row = rows.get(rec["behavior"])
        if row is None:
            row = rows[rec["behavior"]] = Row(rec["behavior"], rec["title"], rec["level"], rec["catalogue"])
            features.setdefault(rec["feature"], []).append(row)
        row.cells[rec["target"]] = rec
    _classify_gaps(rows.values(), doc.get("targets", {}))
    counts = {t: dict.fromkeys(NAMES, 0) for t in targets}
    for row in rows.values():
        for t, rec in row.cells.items():
            counts[t][rec["status"]] += 1
    meta = {k: v for k, v in doc.items() if k != "results"}
    return Matrix(targets, dict(sorted(features.items())), counts, meta, group(doc))


def _classify_gaps(rows: Any, targets: dict[str, Any]) -> None:
    """Tell a fixable gap from fetch's own: where the reference fetch-backed implementation
    passes a behavior that another fetch-backed target fails, the runtime can fix it; where
    the reference fails too, the gap belongs to fetch itself."""
    ref_name = reference(targets)
    for row in rows:
        ref = row.cells.get(ref_name) if ref_name is not None else None
        if ref is None or STATUS[ref["status"]].kind is Kind.SKIP:  # the reference could not run it
            continue
        for target, rec in row.cells.items():
            if target == ref_name or rec["status"] != "FAIL":
                continue
            if targets.get(target, {}).get("profile") != "fetch-backed":
                continue
            rec["gap"] = "fixable" if STATUS[ref["status"]].conforms else "fetch"


def cell_text(rec: dict[str, Any] | None) -> str:
    if rec is None:
        return "-"
    label = STATUS[rec["status"]].label
    if rec.get("notes"):  # app behaviors: differences beside the status
        label += f" ({len(rec['notes'])} notes)"
    return f"{label} ({rec['gap']})" if rec.get("gap") else label


def summary_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n)
