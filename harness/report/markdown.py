"""Markdown renderer (matrix.md), with tabulate."""

from __future__ import annotations

from tabulate import tabulate

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
    findings = [(r, t, r.cells[t]) for rows in m.features.values() for r in rows for t in m.targets
                if t in r.cells and STATUS[r.cells[t]["status"]].detailed]
    if findings:
        lines += ["## Details", ""]
        for row, target, rec in findings:
            lines.append(f"- **{rec['status']}** `{row.behavior}` on `{target}` ({rec['spec']}): "
                         f"{_one_line(rec['message'])}")
            for cmd in rec.get("repro") or []:
                lines.append(f"  - reproduce: `{cmd}`")
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


def _one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
