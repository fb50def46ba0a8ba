"""Markdown renderer (matrix.md), with tabulate."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from harness.report import causes as causing
from harness.report.apps import markdown_notes, markdown_servers
from harness.report.matrix import Matrix, cell_text, summary_text
from harness.report.md_text import code, fence, text
from harness.status import STATUS, TABLE


def render(m: Matrix) -> str:
    meta = m.meta
    lines = ["# node:http compatibility matrix", ""]
    lines.append(f"Harness {text(meta.get('harness_version'))}, run {text(meta.get('finished'))}, "
                 f"seed {text(meta.get('session_seed'))}, Hypothesis profile {code(meta.get('hypothesis_profile'))}"
                 + (f", fault {code(meta['fault'])}" if meta.get("fault") else "") + ".")
    lines.append("")
    tinfo = [[text(t), text(info.get("version", "-")), text(info.get("profile", "-")), info.get("wall_s", "-"),
              text(info.get("unavailable", ""), 300)] for t, info in meta.get("targets", {}).items()]
    lines.append(tabulate(tinfo, headers=["target", "version", "profile", "wall s", "note"], tablefmt="github"))
    lines += ["", "Statuses: " + "; ".join(f"{s.name} {s.meaning}" for s in TABLE) + ". "
              "On a fetch-backed runtime, FAIL (fixable) "
              "means the Python reference (impl) passes it, so the runtime can too; FAIL (fetch) means "
              "the reference fails as well: the gap belongs to fetch itself.", ""]
    lines += markdown_servers(meta)
    headers = ["behavior", "level", *(text(t) for t in m.targets)]
    for feature, rows in m.features.items():
        lines += [f"## {feature}", ""]
        table = [[code(r.behavior), text(r.level), *(cell_text(r.cells.get(t)) for t in m.targets)] for r in rows]
        lines.append(tabulate(table, headers=headers, tablefmt="github"))
        lines.append("")
    lines += ["## Summary", ""]
    summary = [[text(t), *(m.counts[t][s] for s in m.counts[t]), summary_text(m.counts[t])] for t in m.targets]
    first = next(iter(m.counts.values()), {})
    lines.append(tabulate(summary, headers=["target", *first.keys(), "total"], tablefmt="github"))
    lines.append("")
    lines += _causes(m)
    findings = [(r, t, r.cells[t]) for rows in m.features.values() for r in rows for t in m.targets
                if t in r.cells and STATUS[r.cells[t]["status"]].detailed]
    if findings:
        lines += ["## Details", ""]
        for row, target, rec in findings:
            lines += _detail(row.behavior, target, rec)
        lines.append("")
    lines += markdown_notes(m)
    diffs = [(r, t, r.cells[t]) for rows in m.features.values() for r in rows for t in m.targets
             if t in r.cells and r.cells[t].get("differences")]
    if diffs:
        lines += ["## Differences from the oracle", ""]
        for row, target, rec in diffs:
            lines.append(f"- {code(row.behavior, False)} on {code(target, False)}:")
            lines += [f"  - {text(d, 600)}" for d in rec["differences"]]
        lines.append("")
    return "\n".join(lines)


def _causes(m: Matrix) -> list[str]:
    if not m.causes:
        return []
    lines = ["## Causes", "", "Each target's FAIL, TIMEOUT and CRASH cells grouped by the departure from Node "
             "that explains them, most cells first. Class: " + "; ".join(f"{c} {w}" for c, w in causing.CLASSES.items())
             + ".", ""]
    for target, rows in m.causes.items():
        lines += [f"### {text(causing.summary(target, rows, m.counts[target]) or target)}", ""]
        table = [[_cause_text(r), text(r.cls), code(r.subject) if r.subject else "-",
                  f"{len(r.cells)}: " + ", ".join(code(b) for b in r.cells), code(r.command)] for r in rows]
        lines.append(tabulate(table, headers=["cause", "class", "subject", "cells", "see it"], tablefmt="github"))
        lines.append("")
    return lines


def _cause_text(row: causing.CauseRow) -> str:
    return f"{text(row.title)} ({code(row.id)})" if row.declared else f"{code(row.id)}, e.g. {text(row.example, 160)}"


def _detail(behavior: str, target: str, rec: dict[str, Any]) -> list[str]:
    """One non-PASS cell: status, causes, each failing entry where it is written, the commands."""
    failures = rec.get("failures") or []
    head = f"- **{text(rec['status'])}** {code(behavior, False)} on {code(target, False)} ({text(rec['spec'])})"
    lines = [head + ("" if failures and rec["status"] != "FLAKY" else f": {text(rec['message'])}")]
    if rec.get("causes"):
        lines.append("  - causes: " + ", ".join(code(c, False) for c in rec["causes"]))
    for f in failures:
        lines.append(f"  - {code(f['spec'], False)}: {text(f['message'])}")
        lines += fence(f["yaml"], "yaml", "    ")
    for cmd in rec.get("repro") or []:
        lines.append(f"  - reproduce: {code(cmd, False)}")
    return lines
