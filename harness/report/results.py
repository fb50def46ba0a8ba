"""The results file (reports/latest/results.json): the one input of every renderer.

Versioned by SCHEMA; one record per behavior per target plus run metadata.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import BadInput
from harness.runner import REPRO_SCHEMA, CellResult, Session, failures, repro_commands
from harness.scenario import to_json
from harness.status import STATUS, Kind
from harness.targets import registry

SCHEMA = "node-http-conformance/results/v1"


def record(cell: CellResult, session: Session, profile: str | None) -> dict[str, Any]:
    b = cell.behavior
    ex = cell.example
    return {
        "behavior": b.id, "title": b.title, "catalogue": b.catalogue, "feature": b.feature,
        "level": b.level, "target": cell.target, "profile": profile, "status": cell.status,
        "declared": STATUS[cell.status].kind is Kind.DECLARED, "message": cell.message,
        "example": {"label": ex.label, "inputs": to_json(ex.inputs)} if ex else None,
        "repro": repro_commands(cell, session.fault, session.session_seed) if STATUS[cell.status].detailed else [],
        "repro_file": cell.repro_file, "examples_run": cell.examples_run, "statuses": cell.statuses,
        "spec": b.location, "seed": cell.seed, "wall_s": round(cell.wall_s, 3),
        "differences": cell.differences, "causes": cell.causes, "failures": failures(cell),
        "reruns": cell.reruns, "notes": list(cell.notes),
    }


def document(session: Session, records: list[dict[str, Any]], hypothesis_profile: str,
             complete: bool = True) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    # a behavior's cells in the order of the targets' columns, whatever order they ran in
    column = {name: i for i, name in enumerate(session.target_names)}
    ran = {b: i for i, b in enumerate(dict.fromkeys(rec["behavior"] for rec in records))}
    records = sorted(records, key=lambda r: (ran[r["behavior"]], column.get(r["target"], len(column))))
    named = {cid for rec in records for cid in rec.get("causes") or []}
    started = dt.datetime.fromtimestamp(session.started, dt.UTC)
    return {
        "schema": SCHEMA, "harness_version": __version__,
        "started": started.isoformat(timespec="seconds"), "finished": now.isoformat(timespec="seconds"),
        "wall_s": round((now - started).total_seconds(), 2), "session_seed": session.session_seed,
        "hypothesis_profile": hypothesis_profile, "fault": session.fault, "oracle": session.oracle,
        "complete": complete,  # False: the run was interrupted (the gate refuses to judge it)
        "shard": session.shard,  # "K/N": this run holds 1/N of the cells (harness/shard.py)
        "targets": {name: {"kind": registry.info(name).kind, **info}
                    for name, info in session.versions().items()},
        "apps": session.apps_info(),  # how each app ran on each target (None: no app ran)
        # the specs/causes.yaml entries the results name (the others are automatic causes)
        "causes": {c.id: {"title": c.title, "subject": c.subject}
                   for c in session.causes.values() if c.id in named},
        "results": records,
    }


def write(doc: dict[str, Any], report_dir: Path) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "results.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


class ResultsError(BadInput):
    """A results or repro file that cannot be used (missing, truncated, not JSON, another
    schema); every command that reads one exits 2 with this message (harness/cli.py)."""


def _json_file(path: Path, what: str, hint: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such {what} file ({hint})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: the {what} file cannot be read ({exc}); {hint}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        # JSON that stops early: cut where it reached the end, or inside a string
        ends = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated")
        cut = " (truncated?)" if text.lstrip()[:1] in ("{", "[") and ends else ""
        raise ResultsError(f"{path}: the {what} file is not JSON{cut}: {exc}; {hint}") from None
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: the {what} file holds a JSON {type(doc).__name__}, not an object; {hint}")
    return doc


def read(path: Path) -> dict[str, Any]:
    """The results document at path, or ResultsError saying why it cannot be used."""
    hint = "run the suite first: pytest --target=impl, or pass the results.json of a run"
    doc = _json_file(path, "results", hint)
    if doc.get("schema") != SCHEMA:
        raise ResultsError(f"{path}: schema {doc.get('schema')!r}, expected {SCHEMA!r}: written by another "
                           f"harness version or not a results file; run the suite again with this one")
    records = doc.get("results")
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and {"behavior", "target", "status"} <= r.keys() and r["status"] in STATUS
            for r in records):
        raise ResultsError(f"{path}: its 'results' is not a list of cells with behavior, target and a known "
                           f"status; {hint}")
    return doc


def read_repro(path: Path) -> dict[str, Any]:
    """A repro file (reports/latest/repro/<target>/<behavior>.json), or ResultsError."""
    hint = "pass a file from reports/latest/repro/<target>/ written by a run of this harness"
    rec = _json_file(path, "repro", hint)
    schema = rec.get("schema", REPRO_SCHEMA)  # files written before the field existed lack it
    if schema != REPRO_SCHEMA or not {"behavior", "target", "inputs"} <= rec.keys():
        raise ResultsError(f"{path}: not a repro file of schema {REPRO_SCHEMA!r} (schema {schema!r}, "
                           f"keys {sorted(rec)[:8]}); {hint}")
    return rec
