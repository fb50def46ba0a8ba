"""The apps part of the matrix: how each app ran on each target, and the notes of its cells.

Notes (harness/apps/compare.py) are differences that leave an app's answer the same; they
are grouped here by app, target and the micro-behavior whose subject they are, so a
departure seen by every route shows once, with how many app behaviors saw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from harness.report.matrix import Matrix
from harness.report.md_text import code, text

APP_FEATURE = "apps."  # app behaviors' features are apps.<app>


@dataclass
class NoteGroup:
    app: str
    target: str
    subject: str  # the micro-behavior id
    behaviors: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def note_groups(m: Matrix) -> list[NoteGroup]:
    groups: dict[tuple[str, str, str], NoteGroup] = {}
    for feature, rows in m.features.items():
        if not feature.startswith(APP_FEATURE):
            continue
        app = feature.removeprefix(APP_FEATURE)
        for row in rows:
            for target in m.targets:
                for note in (row.cells.get(target) or {}).get("notes") or []:
                    key = (app, target, note["behavior"])
                    group = groups.setdefault(key, NoteGroup(*key))
                    if row.behavior not in group.behaviors:
                        group.behaviors.append(row.behavior)
                    if note["text"] not in group.examples and len(group.examples) < 2:
                        group.examples.append(note["text"])
    column = {t: i for i, t in enumerate(m.targets)}
    return sorted(groups.values(), key=lambda g: (g.app, column[g.target], -len(g.behaviors), g.subject))


def how_they_ran(meta: dict[str, Any]) -> list[list[str]]:
    """Rows: app (pinned packages), target, how it runs there, its start time or why it did not start."""
    rows = []
    for app, ran in (meta.get("apps") or {}).items():
        pinned = ", ".join(f"{name} {version}" for name, version in ran.get("pinned", {}).items())
        for target, info in ran.get("targets", {}).items():
            if info.get("started"):
                outcome = f"started in {info['start_ms']:.0f} ms"
            else:  # the reason, then the runtime's first words about it
                said = [line for line in str(info.get("log", "")).splitlines()[1:] if line.strip()]
                outcome = "did not start: " + str(info.get("error", "?")).split(": ", 1)[-1] \
                    + (f" ({said[0].strip()})" if said else "")
            rows.append([f"{app} ({pinned})", target, str(info.get("runs", "")), outcome])
    return rows


def compatibility(meta: dict[str, Any]) -> list[str]:
    """One sentence per target whose apps run at a compatibility date (workerd)."""
    seen: dict[str, str] = {}
    for ran in (meta.get("apps") or {}).values():
        for target, info in ran.get("targets", {}).items():
            if info.get("compatibility_date"):
                seen[target] = (f"{target} runs the apps at compatibility date {info['compatibility_date']} "
                                f"with flags {', '.join(info.get('compatibility_flags') or [])}.")
    return list(seen.values())


def markdown_servers(meta: dict[str, Any]) -> list[str]:
    rows = how_they_ran(meta)
    if not rows:
        return []
    return ["## Real applications", "",
            "Each app is served once per target for the whole run; for an app, Node's answer to the "
            "same requests is the expected one (README, \"Real applications\").", "",
            tabulate([[text(c, 300) for c in row] for row in rows], headers=["app", "target", "runs as", "start"],
                     tablefmt="github"), "",
            *compatibility(meta), ""]


def markdown_notes(m: Matrix) -> list[str]:
    groups = note_groups(m)
    if not groups:
        return []
    rows = [[text(g.app), text(g.target), code(g.subject), len(g.behaviors), text("; ".join(g.examples), 2000)]
            for g in groups]
    return ["## Notes on the apps", "",
            "Differences that leave an app's answer the same (status code, body, header values), "
            "by the micro-behavior whose subject they are; `behaviors` counts the app behaviors that saw one.", "",
            tabulate(rows, headers=["app", "target", "subject", "behaviors", "for example"], tablefmt="github"), ""]
