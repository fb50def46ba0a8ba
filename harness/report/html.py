"""HTML renderer (matrix.html): one self-contained page, colour per status."""

from __future__ import annotations

from html import escape
from typing import Any

from harness.report import causes as causing
from harness.report.matrix import Matrix, cell_text, summary_text
from harness.status import STATUS


def _cell(rec: dict[str, Any] | None) -> str:
    if rec is None:
        return "<td>-</td>"
    tip = escape(rec.get("message") or "") + "".join(
        f"<div class=r>note: {escape(n['text'])} (see <code>{escape(n['behavior'])}</code>)</div>"
        for n in rec.get("notes") or [])
    causes = "".join(f"<div class=r>cause: <code>{escape(c)}</code></div>" for c in rec.get("causes") or [])
    failing = "".join(f"<div class=r><code>{escape(f['spec'])}</code>: {escape(f['message'])}"
                      f"<pre>{escape(f['yaml'])}</pre></div>" for f in rec.get("failures") or [])
    repro = "".join(f"<div class=r><code>{escape(c)}</code></div>" for c in rec.get("repro") or [])
    label = cell_text(rec)
    body = tip + causes + failing + repro
    detail = f"<details><summary>{label}</summary>{body}</details>" if body else label
    return f'<td style="background:{STATUS[rec["status"]].colour}">{detail}</td>'


def _causes(m: Matrix) -> str:
    if not m.causes:
        return ""
    legend = "; ".join(f"<b>{escape(c)}</b> {escape(w)}" for c, w in causing.CLASSES.items())
    out = [f"<h2>Causes</h2><p>Each target's FAIL, TIMEOUT and CRASH cells grouped by the departure from "
           f"Node that explains them, most cells first. Class: {legend}.</p>"]
    for target, rows in m.causes.items():
        body = "".join(
            f"<tr><td>{escape(r.title)}<br><code>{escape(r.id)}</code>"
            f"{'' if r.declared else '<br>e.g. ' + escape(r.example)}</td><td>{escape(r.cls)}</td>"
            f"<td>{'<code>' + escape(r.subject) + '</code>' if r.subject else '-'}</td>"
            f"<td>{len(r.cells)}: {', '.join(f'<code>{escape(b)}</code>' for b in r.cells)}</td>"
            f"<td><code>{escape(r.command)}</code></td></tr>" for r in rows)
        out.append(f"<h3>{escape(causing.summary(target, rows, m.counts[target]) or target)}</h3><table>"
                   f"<tr><th>cause</th><th>class</th><th>subject</th><th>cells</th><th>see it</th></tr>"
                   f"{body}</table>")
    return "".join(out)


def render(m: Matrix) -> str:
    head = "".join(f"<th>{escape(t)}</th>" for t in m.targets)
    body = []
    for feature, rows in m.features.items():
        body.append(f'<tr class=f><th colspan="{len(m.targets) + 2}">{escape(feature)}</th></tr>')
        for r in rows:
            cells = "".join(_cell(r.cells.get(t)) for t in m.targets)
            body.append(f"<tr><td title='{escape(r.title)}'><code>{escape(r.behavior)}</code></td>"
                        f"<td>{r.level}</td>{cells}</tr>")
    summary = "".join(f"<tr><td>{escape(t)}</td><td>{escape(summary_text(m.counts[t]))}</td></tr>"
                      for t in m.targets)
    meta = m.meta
    targets = "".join(
        f"<li><b>{escape(t)}</b> {escape(str(i.get('version', '')))} ({escape(str(i.get('profile', '')))})"
        f" {escape(str(i.get('unavailable', '')))}</li>" for t, i in meta.get("targets", {}).items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>node:http compatibility matrix</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:3px 8px;vertical-align:top;font-size:13px}}tr.f th{{background:#333;color:#fff;text-align:left}}
details{{max-width:32em}}.r{{margin-top:4px}}code{{font-size:12px}}pre{{background:#fff8;margin:2px 0}}</style></head><body>
<h1>node:http compatibility matrix</h1>
<p>Harness {escape(str(meta.get('harness_version')))}, run {escape(str(meta.get('finished')))}, seed {meta.get('session_seed')},
profile {escape(str(meta.get('hypothesis_profile')))}{', fault ' + escape(meta['fault']) if meta.get('fault') else ''}.</p>
<ul>{targets}</ul>
<table><tr><th>behavior</th><th>level</th>{head}</tr>{''.join(body)}</table>
<h2>Summary</h2><table>{summary}</table>{_causes(m)}</body></html>
"""
