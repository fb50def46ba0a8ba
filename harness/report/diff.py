"""`python -m harness diff OLD.json NEW.json`: what changed between two runs, cell by cell.

A cell (behavior, target) whose status changed is listed with both statuses; a cell whose
status stayed but whose observations changed (its example, message, causes, failing
entries, reruns, notes, oracle differences, example counts) is listed with each changed
path and its old and new value. Times, repro commands and ports are not observations.
Exit code: 0 nothing changed, 1 something did, 2 a file cannot be read
(harness.report.results.ResultsError).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# What a record says about the target's behavior, beyond its status.
OBSERVED = ("message", "example", "examples_run", "statuses", "causes", "failures", "reruns", "notes",
            "differences")
_PORT = re.compile(r"(127\.0\.0\.1|localhost|\[::1\]):\d+")
_PID = re.compile(r"\bpid \d+")
_SECONDS = re.compile(r"\b\d+\.\d+ ?(s|ms)\b")


def comparable(value: Any) -> Any:
    """value with ports, pids and measured durations in its text replaced by placeholders."""
    if isinstance(value, str):
        return _SECONDS.sub(r"<t>\1", _PID.sub("pid <pid>", _PORT.sub(r"\1:<port>", value)))
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def observed(record: dict[str, Any]) -> dict[str, Any]:
    """The observation fields of a results record, comparable across runs."""
    return {k: comparable(record.get(k)) for k in OBSERVED}


@dataclass
class Change:
    path: str
    old: Any
    new: Any


@dataclass
class CellDiff:
    behavior: str
    target: str
    old_status: str | None  # None: the cell is not in that file
    new_status: str | None
    changes: list[Change] = field(default_factory=list)


def changes(old: Any, new: Any, path: str = "") -> list[Change]:
    """The leaf paths where old and new differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            out += changes(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (a, b) in enumerate(zip(old, new, strict=True)) for c in changes(a, b, f"{path}[{i}]")]
    return [] if old == new else [Change(path, old, new)]


def diff(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> list[CellDiff]:
    """Every cell that changed, in the new file's order (cells only in the old one last)."""
    def cells(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["target"], r["behavior"]): r for r in doc["results"]}

    old, new = cells(old_doc), cells(new_doc)
    out = []
    for key in list(new) + [k for k in old if k not in new]:
        a, b = old.get(key), new.get(key)
        if a is None or b is None or a["status"] != b["status"]:
            out.append(CellDiff(key[1], key[0], a["status"] if a else None, b["status"] if b else None))
            continue
        found = changes(observed(a), observed(b))
        if found:
            out.append(CellDiff(key[1], key[0], a["status"], b["status"], found))
    return out


def lines(cells: list[CellDiff], limit: int = 300) -> list[str]:
    def show(value: Any) -> str:
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= limit else text[: limit - 3] + "..."

    status = [c for c in cells if c.old_status != c.new_status]
    observations = [c for c in cells if c.old_status == c.new_status]
    out = [f"{len(status)} cell(s) changed status, {len(observations)} changed observations with the same status"]
    for c in status:
        out.append(f"status  {c.target:10} {c.behavior}: {c.old_status or '(absent)'} -> {c.new_status or '(absent)'}")
    for c in observations:
        out.append(f"observed {c.target:10} {c.behavior} ({c.new_status}):")
        out += [f"    {ch.path}: {show(ch.old)} -> {show(ch.new)}" for ch in c.changes]
    return out
