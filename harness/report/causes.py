"""The causes view: per target, the findings grouped by cause, most cells first.

A cell's causes come with its record (harness/verdict.py attributes them): ids of
specs/causes.yaml, whose title and subject the results document carries, or automatic ones.
Each cause gets a class from the run's own results, read on the reference target
(harness/targets/registry.py): `fetch` when the reference fails the cause's subject behavior
too (a named cause: with that same cause; an automatic one, whose name holds what this
target observed: on any of its behaviors), `fixable` when it runs them without (so a
fetch-backed runtime can), `unknown` when the reference did not run them, `-` on a target that is
not fetch-backed (fetch is no excuse there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.runner import pytest_command
from harness.status import STATUS, Kind

FIXABLE, FETCH, UNKNOWN, NOT_FETCH_BACKED = "fixable", "fetch", "unknown", "-"
CLASSES = {  # the legend of every causes view
    FIXABLE: "the reference target avoids it, so a fetch-backed runtime can",
    FETCH: "the reference shows it too: the gap belongs to fetch",
    UNKNOWN: "the reference did not run its subject",
    NOT_FETCH_BACKED: "not a fetch-backed target",
}


@dataclass
class CauseRow:
    id: str
    title: str
    subject: str | None  # a behavior id; None for an automatic cause
    cls: str = UNKNOWN
    cells: list[str] = field(default_factory=list)  # behavior ids, in matrix order
    example: str = ""  # one failing entry's message
    command: str = ""  # runs every cell of the cause

    @property
    def declared(self) -> bool:
        return self.subject is not None


def reference(targets: dict[str, Any]) -> str | None:
    """The reference target of a run, if it ran."""
    return next((name for name, t in targets.items() if t.get("kind") == "reference"), None)


def finding(rec: dict[str, Any]) -> bool:
    return STATUS[rec["status"]].kind is Kind.FINDING


def group(doc: dict[str, Any]) -> dict[str, list[CauseRow]]:
    """Target -> its causes (only targets with findings)."""
    declared: dict[str, Any] = doc.get("causes") or {}
    targets: dict[str, Any] = doc.get("targets") or {}
    ref = reference(targets)
    on_ref = {r["behavior"]: r for r in doc["results"] if r["target"] == ref}
    out: dict[str, dict[str, CauseRow]] = {}
    for rec in doc["results"]:
        if not finding(rec):
            continue
        rows = out.setdefault(rec["target"], {})
        for cid in rec.get("causes") or []:
            row = rows.get(cid)
            if row is None:
                known = declared.get(cid)
                row = rows[cid] = CauseRow(cid, known["title"] if known else cid,
                                           known["subject"] if known else None)
            row.cells.append(rec["behavior"])
            if not row.example:
                row.example = next((f["message"] for f in rec.get("failures") or [] if f["cause"] == cid),
                                   (rec["message"].splitlines() or [""])[0])
    for target, rows in out.items():
        fetch_backed = targets.get(target, {}).get("profile") == "fetch-backed"
        for row in rows.values():
            row.cls = _class(row, on_ref) if fetch_backed else NOT_FETCH_BACKED
            row.command = pytest_command(target, row.cells, doc.get("fault"), doc.get("session_seed"))
    return {t: sorted(rows.values(), key=lambda r: (-len(r.cells), r.id)) for t, rows in out.items()}


def _class(row: CauseRow, on_ref: dict[str, dict[str, Any]]) -> str:
    seen = [on_ref[b] for b in ([row.subject] if row.subject else row.cells) if b in on_ref]
    if any(finding(r) and (not row.declared or row.id in (r.get("causes") or [])) for r in seen):
        return FETCH
    if any(finding(r) or STATUS[r["status"]].conforms for r in seen):
        return FIXABLE
    return UNKNOWN


def summary(target: str, rows: list[CauseRow], counts: dict[str, int]) -> str | None:
    """`workerd: 64 FAIL + 3 TIMEOUT cells from 25 causes (14 fixable, 11 fetch)`, then the
    FLAKY cells; None for a target with neither."""
    parts = []
    found = {s: n for s, n in counts.items() if n and STATUS[s].kind is Kind.FINDING}
    if found:
        classes = [c for c in (FIXABLE, FETCH, UNKNOWN) if any(r.cls == c for r in rows)]
        split = ", ".join(f"{sum(1 for r in rows if r.cls == c)} {c}" for c in classes)
        cells = " + ".join(f"{n} {s}" for s, n in found.items())
        parts.append(f"{cells} {_plural(sum(found.values()), 'cell')} from {len(rows)} {_plural(len(rows), 'cause')}"
                     + (f" ({split})" if split else ""))
    for status, n in counts.items():
        if n and STATUS[status].kind is Kind.FLAKY:
            parts.append(f"{n} {status} {_plural(n, 'cell')} ({STATUS[status].meaning})")
    return f"{target}: " + "; ".join(parts) if parts else None


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
