"""Markdown renderer (matrix.md), with tabulate."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from harness.report import causes as causing
from harness.report.apps import markdown_notes, markdown_servers
from harness.report.matrix import Matrix, cell_text, summary_text
from harness.status import STATUS, TABLE


def render(m: Matrix) -> str:
    meta = m.meta
    lines = ["# node:http compatibility matrix", ""]
    lines.append(f"Harness {meta.get('harness_version')}, run {meta.get('finished')}, "
                 f"seed {meta.get('session_seed')}, Hypothesis profile `{meta.get('hypothesis_profile')}`"
                 + (f", fault `{meta['fault']}`" if meta.get("fault") else "") + ".")
    lines.append("")
    tinfo = [[t, info.get("version", "-"), info.get("profile", "-"), info.get("wall_s", "-"),
              info.get("unavailable", "")] for t, info in meta.get("targets", {}).items()]
    lines.append(tabulate(tinfo, headers=["target", "version", "profile", "wall s", "note"], tablefmt="github"))
    lines += ["", "Statuses: " + "; ".join(f"{s.name} {s.meaning}" for s in TABLE) + ". "
              "On a fetch-backed runtime, FAIL (fixable) "
              "means the Python reference (impl) passes it, so the runtime can too; FAIL (fetch) means "
              "the reference fails as well: the gap belongs to fetch itself.", ""]
    lines += markdown_servers(meta)
    headers = ["behavior", "level", *m.targets]
    for feature, rows in m.features.items():
        lines += [f"## {feature}", ""]
        table = [[f"`{r.behavior}`", r.level, *(cell_text(r.cells.get(t)) for t in m.targets)] for r in rows]
        lines.append(tabulate(table, headers=headers, tablefmt="github"))
        lines.append("")
    lines += ["## Summary", ""]
    summary = [[t, *(m.counts[t][s] for s in m.counts[t]), summary_text(m.counts[t])] for t in m.targets]
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
            lines.append(f"- `{row.behavior}` on `{target}`:")
            lines += [f"  - {_one_line(d, 600)}" for d in rec["differences"]]
        lines.append("")
    return "\n".join(lines)


def _causes(m: Matrix) -> list[str]:
    if not m.causes:
        return []
    lines = ["## Causes", "", "Each target's FAIL, TIMEOUT and CRASH cells grouped by the departure from Node "
             "that explains them, most cells first. Class: " + "; ".join(f"{c} {w}" for c, w in causing.CLASSES.items())
             + ".", ""]
    for target, rows in m.causes.items():
        lines += [f"### {causing.summary(target, rows, m.counts[target]) or target}", ""]
        table = [[_cause_text(r), r.cls, f"`{r.subject}`" if r.subject else "-",
                  f"{len(r.cells)}: " + ", ".join(f"`{b}`" for b in r.cells), f"`{r.command}`"] for r in rows]
        lines.append(tabulate(table, headers=["cause", "class", "subject", "cells", "see it"], tablefmt="github"))
        lines.append("")
    return lines


def _cause_text(row: causing.CauseRow) -> str:
    text = f"{row.title} (`{row.id}`)" if row.declared else f"`{row.id}`, e.g. {_one_line(row.example, 160)}"
    return text.replace("|", "\\|")


def _detail(behavior: str, target: str, rec: dict[str, Any]) -> list[str]:
    """One non-PASS cell: status, causes, each failing entry where it is written, the commands."""
    failures = rec.get("failures") or []
    head = f"- **{rec['status']}** `{behavior}` on `{target}` ({rec['spec']})"
    lines = [head + ("" if failures and rec["status"] != "FLAKY" else f": {_one_line(rec['message'])}")]
    if rec.get("causes"):
        lines.append("  - causes: " + ", ".join(f"`{c}`" for c in rec["causes"]))
    for f in failures:
        lines.append(f"  - `{f['spec']}`: {_one_line(f['message'])}")
        lines += ["    ```yaml", *(f"    {line}" for line in f["yaml"].splitlines()), "    ```"]
    for cmd in rec.get("repro") or []:
        lines.append(f"  - reproduce: `{cmd}`")
    return lines


def _one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
