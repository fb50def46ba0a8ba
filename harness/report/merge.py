"""One results document from several: the shards of a run, or the workers of `pytest -n`.

Results merge only when they are parts of one run: the same schema, harness version,
seed, Hypothesis profile and fault, the same version of each target, shards of one split
(K/N with one N), and no cell (behavior, target) in two of them. Anything else is refused
before a file is written. The merged records are in the order a serial run writes them
(spec file, line, behavior, then target), so every renderer shows the same matrix.
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.events import Document, Record, RunFinished
from harness.report.handlers import ReportWriter, summary_lines
from harness.report.results import ResultsError, read
from harness.shard import BadShard, Shard

# metadata that must be equal in every part, and how a message names it
MUST_MATCH = {"schema": "schema versions", "harness_version": "harness versions", "session_seed": "seeds",
              "hypothesis_profile": "Hypothesis profiles", "fault": "faults"}
SUMMED = ("wall_s", "processes_started")  # per target (and per app on a target): a part's share


class MergeError(Exception):
    pass


Part = tuple[str, Document]  # (where it comes from, the document)


def merge(parts: Sequence[Part]) -> Document:
    """The results document of the run these parts make up (MergeError if they do not)."""
    if not parts:
        raise MergeError("nothing to merge")
    for key, what in MUST_MATCH.items():
        _same(parts, what, _getter(key))
    shards = _shards(parts)
    _no_overlap(parts)
    targets = _targets(parts)
    column = {name: i for i, name in enumerate(targets)}
    # behaviors written by one spec entry (an app behavior per app) keep the order the parts ran them in
    ran = {b: i for i, b in enumerate(dict.fromkeys(rec["behavior"] for _, doc in parts for rec in doc["results"]))}
    records = sorted((rec for _, doc in parts for rec in doc["results"]),
                     key=lambda r: (*_spec_position(r), ran[r["behavior"]], column.get(r["target"], len(column))))
    first = parts[0][1]
    return {
        **{k: v for k, v in first.items() if k not in ("results", "targets", "apps", "causes")},
        "started": min(doc["started"] for _, doc in parts),
        "finished": max(doc["finished"] for _, doc in parts),
        "wall_s": round(max(doc["wall_s"] for _, doc in parts), 2),  # the parts ran side by side
        **shards,
        "merged_from": [{"part": label, "shard": doc.get("shard"), "cells": len(doc["results"])}
                        for label, doc in parts],
        "targets": targets,
        "apps": _apps(parts),
        "causes": {cid: c for _, doc in parts for cid, c in (doc.get("causes") or {}).items()},
        "results": records,
    }


def _getter(key: str) -> Callable[[Document], Any]:
    return lambda doc: doc.get(key)


def _same(parts: Sequence[Part], what: str, value: Callable[[Document], Any]) -> None:
    seen: dict[str, list[str]] = {}
    for label, doc in parts:
        seen.setdefault(json.dumps(value(doc)), []).append(label)
    if len(seen) > 1:
        listed = "; ".join(f"{v} in {', '.join(labels)}" for v, labels in seen.items())
        raise MergeError(f"cannot merge results of different {what}: {listed}. Merge only the parts "
                         f"of one run (same seed, profile and harness).")


def _shards(parts: Sequence[Part]) -> dict[str, Any]:
    """The merged `shard`: None when the parts hold every shard of their split (or none was
    sharded), else which ones they hold, with `shards_missing`."""
    held: list[Shard] = []
    for label, doc in parts:
        if doc.get("shard"):
            try:
                held.append(Shard.parse(str(doc["shard"])))
            except BadShard:
                raise MergeError(f"{label}: unreadable shard {doc['shard']!r}") from None
    if not held:
        return {"shard": None}
    _same([(label, doc) for label, doc in parts if doc.get("shard")], "shard splits (K/N with another N)",
          lambda doc: Shard.parse(str(doc["shard"])).count)
    count = held[0].count
    missing = sorted(set(range(1, count + 1)) - {s.index for s in held})
    if not missing:
        return {"shard": None}
    return {"shard": "+".join(str(s.index) for s in sorted(held, key=lambda s: s.index)) + f"/{count}",
            "shards_missing": missing}


def _no_overlap(parts: Sequence[Part]) -> None:
    owner: dict[tuple[str, str], str] = {}
    clashes: dict[tuple[str, str], list[str]] = {}
    for label, doc in parts:
        for rec in doc["results"]:
            cell = (rec["behavior"], rec["target"])
            if cell in owner:
                clashes.setdefault((owner[cell], label), []).append(f"{cell[0]}[{cell[1]}]")
            else:
                owner[cell] = label
    if clashes:
        (a, b), cells = next(iter(clashes.items()))
        more = f" and {len(cells) - 3} more" if len(cells) > 3 else ""
        raise MergeError(f"cannot merge overlapping results: {a} and {b} both hold {len(cells)} cell(s) "
                         f"({', '.join(cells[:3])}{more}). Merge the shards of one split, or runs of "
                         f"different targets.")


def _targets(parts: Sequence[Part]) -> dict[str, Any]:
    """Per target, the part(s) that ran it: their version, what each spent and started."""
    ran: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    idle: dict[str, dict[str, Any]] = {}  # not started in any part (yet): why, from the first part
    for label, doc in parts:
        for name, info in doc["targets"].items():
            if info.get("started"):
                ran.setdefault(name, []).append((label, info))
            elif name not in idle or idle[name].get("unavailable") == "not run":
                idle[name] = info
    for name, infos in ran.items():
        _same(infos, f"versions of {name}", lambda info: info.get("version"))
    out: dict[str, Any] = {}
    for name in [*dict.fromkeys([n for _, doc in parts for n in doc["targets"]])]:
        started = [info for _, info in ran.get(name, [])]
        out[name] = _summed(started) if started else idle[name]
    return out


def _summed(infos: list[dict[str, Any]]) -> dict[str, Any]:
    merged = dict(infos[0])
    for key in SUMMED:
        if any(key in info for info in infos):
            total = sum(info.get(key, 0) for info in infos)
            merged[key] = round(total, 3) if isinstance(total, float) else total
    return merged


def _apps(parts: Sequence[Part]) -> dict[str, Any] | None:
    apps: dict[str, Any] = {}
    for _, doc in parts:
        for app, entry in (doc.get("apps") or {}).items():
            slot = apps.setdefault(app, {**entry, "targets": {}})
            for target, how in entry["targets"].items():
                seen = slot["targets"].get(target)
                slot["targets"][target] = how if seen is None else _summed([seen, how])
    return apps or None


def _spec_position(rec: Record) -> tuple[str, int]:
    """(file, line) of a record's behavior: the order of a serial run (files sorted, then lines)."""
    source, _, line = str(rec.get("spec") or "").rpartition(":")
    return (source, int(line)) if line.isdigit() else (str(rec.get("spec") or ""), 0)


def copy_repro_files(parts: Sequence[tuple[Path, Document]], report_dir: Path) -> None:
    """Bring each part's repro files (next to its results.json) under report_dir/repro/, and
    point its records and replay commands there."""
    for results_path, doc in parts:
        for rec in doc["results"]:
            old = rec.get("repro_file")
            steps = Path(old).parts if old else ()
            if "repro" not in steps:
                continue
            tail = Path(*steps[len(steps) - steps[::-1].index("repro"):])  # <target>/<behavior>.json
            src, dst = results_path.parent / "repro" / tail, report_dir / "repro" / tail
            if not src.is_file():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.resolve() != dst.resolve():
                shutil.copyfile(src, dst)
            new = _shown(dst)
            rec["repro_file"] = new
            rec["repro"] = [cmd.replace(shlex.quote(old), shlex.quote(new)) for cmd in rec.get("repro") or []]


def _shown(path: Path) -> str:
    try:  # relative to where the command runs, as the runner writes them
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run(paths: Sequence[str], report_dir: Path, say: Callable[[str], None],
        complain: Callable[[str], None]) -> int:
    """`python -m harness merge`: 0 when written, 2 (nothing written) when refused."""
    try:
        parts = [(Path(p), read(Path(p))) for p in paths]
        doc = merge([(str(p), d) for p, d in parts])
    except (ResultsError, MergeError) as exc:
        complain(f"merge refused, nothing written: {exc}")
        return 2
    copy_repro_files(parts, report_dir)
    for line in summary_lines(doc):
        say(line)
    if doc.get("shards_missing"):
        say(f"note: shards {doc['shard']} only; missing {', '.join(map(str, doc['shards_missing']))}")
    ReportWriter(report_dir, say).on_run(RunFinished(doc))
    return 0
