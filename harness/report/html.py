"""HTML renderer (matrix.html): the explorer, one self-contained page that works offline.

The page is rendered here, escaped, so it reads without JavaScript: summary per target, the
matrix, the causes and the apps. explorer.js (embedded, with explorer.css) adds the filters
and the detail of a cell; it reads the cells' data from a JSON island, never as markup.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from harness.report import causes as causing
from harness.report.apps import compatibility, how_they_ran, note_groups
from harness.report.matrix import Matrix, cell_text
from harness.repro_cli import script_command
from harness.spec.assertions import expected_observed
from harness.status import STATUS, TABLE

ASSETS = Path(__file__).parent / "explorer"


def _badge(status: str, text: str | None = None) -> str:
    s = STATUS[status]
    return (f'<span class="badge" style="background:{s.colour}" title="{escape(s.meaning)}">'
            f"{escape(text or s.label)}</span>")


def _summary(m: Matrix) -> str:
    head = "".join(f"<th>{_badge(s.name)}</th>" for s in TABLE)
    rows = "".join(
        f"<tr><th>{escape(t)}</th>"
        + "".join(f"<td>{m.counts[t][s.name]}</td>" for s in TABLE)
        + f"<td>{len(m.causes.get(t, []))}</td></tr>" for t in m.targets)
    return f'<table id="summary"><tr><th>target</th>{head}<th>causes</th></tr>{rows}</table>'


def _filters(m: Matrix) -> str:
    statuses = "".join(f'<label><input type="checkbox" name="status" value="{s.name}" checked> '
                       f"{_badge(s.name)}</label>" for s in TABLE)
    features = "".join(f'<option value="{escape(f)}">{escape(f)}</option>' for f in m.features)
    targets = "".join(f'<option value="{escape(t)}">{escape(t)}</option>' for t in m.targets)
    return (f'<form id="filters" onsubmit="return false"><fieldset><legend>status</legend>{statuses}</fieldset>'
            f'<label>feature <select id="f-feature"><option value="">all</option>{features}</select></label>'
            f'<label>target <select id="f-target"><option value="">all</option>{targets}</select></label>'
            f'<label>text <input id="f-text" type="search" placeholder="behavior, message, cause"></label>'
            f'<span id="f-count"></span></form>')


def _matrix(m: Matrix, keys: dict[tuple[str, str], int]) -> str:
    head = "".join(f'<th data-target="{escape(t)}">{escape(t)}</th>' for t in m.targets)
    body = []
    for feature, rows in m.features.items():
        body.append(f'<tr class="f" data-feature="{escape(feature)}">'
                    f'<th colspan="{len(m.targets) + 2}">{escape(feature)}</th></tr>')
        for r in rows:
            cells = []
            for t in m.targets:
                rec = r.cells.get(t)
                if rec is None:
                    cells.append(f'<td data-target="{escape(t)}">-</td>')
                    continue
                colour = STATUS[rec["status"]].colour
                cells.append(f'<td data-target="{escape(t)}" data-status="{rec["status"]}" style="background:{colour}">'
                             f'<button type="button" data-cell="{keys[r.behavior, t]}">'
                             f"{escape(cell_text(rec))}</button></td>")
            body.append(f'<tr class="b" data-feature="{escape(feature)}" data-behavior="{escape(r.behavior)}">'
                        f'<td title="{escape(r.title)}"><code>{escape(r.behavior)}</code></td>'
                        f"<td>{escape(r.level)}</td>{''.join(cells)}</tr>")
    return f'<table id="matrix"><tr><th>behavior</th><th>level</th>{head}</tr>{"".join(body)}</table>'


def _causes(m: Matrix, keys: dict[tuple[str, str], int]) -> str:
    if not m.causes:
        return ""
    legend = "; ".join(f"<b>{escape(c)}</b> {escape(w)}" for c, w in causing.CLASSES.items())
    out = [f'<h2 id="causes">Causes</h2><p>Each target\'s FAIL, TIMEOUT and CRASH cells grouped by the departure '
           f"from Node that explains them, most cells first. Class: {legend}.</p>"]
    for target, rows in m.causes.items():
        body = "".join(
            f'<tr data-target="{escape(target)}"><td>'
            + (f"{escape(r.title)}<br><code>{escape(r.id)}</code>" if r.declared
               else f"<code>{escape(r.id)}</code><br>e.g. {escape(r.example)}")
            + f"</td><td>{escape(r.cls)}</td>"
            f"<td>{'<code>' + escape(r.subject) + '</code>' if r.subject else '-'}</td>"
            f"<td>{len(r.cells)}: "
            + ", ".join(f'<button type="button" class="link" data-cell="{keys[b, target]}">{escape(b)}</button>'
                        for b in r.cells)
            + f"</td><td><code>{escape(r.command)}</code></td></tr>" for r in rows)
        out.append(f"<h3>{escape(causing.summary(target, rows, m.counts[target]) or target)}</h3><table>"
                   f"<tr><th>cause</th><th>class</th><th>subject</th><th>cells</th><th>see it</th></tr>"
                   f"{body}</table>")
    return "".join(out)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _apps(m: Matrix) -> str:
    out = []
    ran = how_they_ran(m.meta)
    if ran:
        out.append("<h2>Real applications</h2><p>Each app is served once per target for the whole run; for an "
                   "app, Node's answer to the same requests is the expected one.</p>"
                   + _table(["app", "target", "runs as", "start"], ran)
                   + "".join(f"<p>{escape(s)}</p>" for s in compatibility(m.meta)))
    groups = note_groups(m)
    if groups:
        out.append("<h2>Notes on the apps</h2><p>Differences that leave an app's answer the same, by the "
                   "micro-behavior whose subject they are.</p>"
                   + _table(["app", "target", "subject", "behaviors", "for example"],
                            [[g.app, g.target, g.subject, len(g.behaviors), "; ".join(g.examples)] for g in groups]))
    return "".join(out)


def _payload(m: Matrix, keys: dict[tuple[str, str], int]) -> str:
    """The cells' records for the detail view, with what the page adds: the cell label, each
    failure split into expected and observed, each cause's title and class."""
    classes = {(t, r.id): (r.title, r.cls) for t, rows in m.causes.items() for r in rows}
    cells: list[dict[str, Any]] = [{}] * len(keys)
    for rows in m.features.values():
        for row in rows:
            for t, rec in row.cells.items():
                failures = [{**f, "expected": expected_observed(f["message"])[0],
                             "observed": expected_observed(f["message"])[1]} for f in rec.get("failures") or []]
                causes = [{"id": c, "title": classes.get((t, c), (c, ""))[0], "class": classes.get((t, c), ("", ""))[1]}
                          for c in rec.get("causes") or []]
                repro = list(rec.get("repro") or [])
                if rec.get("repro_file"):
                    repro.append(script_command(rec["repro_file"], t, row.behavior))
                cells[keys[row.behavior, t]] = {**rec, "label": cell_text(rec), "failures": failures,
                                                "causes": causes, "repro": repro}
    data = {"statuses": {s.name: {"label": s.label, "colour": s.colour, "meaning": s.meaning} for s in TABLE},
            "cells": cells}
    # Inside <script> only `<` can end the island early: JSON's own escape keeps it data.
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def render(m: Matrix) -> str:
    keys = {(r.behavior, t): i for i, (r, t) in enumerate(
        (r, t) for rows in m.features.values() for r in rows for t in m.targets if t in r.cells)}
    meta = m.meta
    targets = "".join(
        f"<li><b>{escape(t)}</b> {escape(str(i.get('version', '')))} ({escape(str(i.get('profile', '')))})"
        f" {escape(str(i.get('unavailable', '')))}</li>" for t, i in meta.get("targets", {}).items())
    legend = "; ".join(f"{_badge(s.name)} {escape(s.meaning)}" for s in TABLE)
    fault = f", fault {escape(meta['fault'])}" if meta.get("fault") else ""
    css = (ASSETS / "explorer.css").read_text(encoding="utf-8")
    js = (ASSETS / "explorer.js").read_text(encoding="utf-8").replace("</", "<\\/")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>node:http compatibility matrix</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{css}</style></head><body>
<header><h1>node:http compatibility matrix</h1>
<p>Harness {escape(str(meta.get('harness_version')))}, run {escape(str(meta.get('finished')))},
seed {escape(str(meta.get('session_seed')))}, profile {escape(str(meta.get('hypothesis_profile')))}{fault}.
<a href="#matrix">matrix</a> · <a href="#causes">causes</a></p>
<ul>{targets}</ul>{_summary(m)}<p class="legend">{legend}</p>{_filters(m)}</header>
<main><div id="table-wrap">{_matrix(m, keys)}</div>
<aside id="detail" hidden aria-live="polite"></aside></main>
{_causes(m, keys)}{_apps(m)}
<script type="application/json" id="explorer-data">{_payload(m, keys)}</script>
<script>{js}</script></body></html>
"""
