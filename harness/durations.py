"""How long each cell took in a measured run (reports/durations.json): what the xdist
scheduler (harness/lanes.py) knows of a behavior before it runs it.

Written from a run's results.json by `python -m harness durations`. It only orders work: a
stale or missing entry makes a run slower, never changes a verdict. A cell missing from the
file is estimated (the behavior's other targets, else the median cell).
"""

from __future__ import annotations

import functools
import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BadInput

SCHEMA = "node-http-conformance/durations/v1"
FILE = Path("reports") / "durations.json"  # under the project root
HINT = "write it again with `python -m harness durations` from a run's results.json"


@dataclass(frozen=True)
class Durations:
    seconds: Mapping[str, Mapping[str, float]]  # behavior id -> target -> the cell's wall seconds

    def cell(self, behavior: str, target: str) -> float:
        per_target = self.seconds.get(behavior)
        if per_target:
            if target in per_target:
                return per_target[target]
            return statistics.fmean(per_target.values())  # a target not measured: its peers' mean
        return self.median

    @functools.cached_property  # asked for every cell of an unmeasured behavior
    def median(self) -> float:
        values = [s for per_target in self.seconds.values() for s in per_target.values()]
        return statistics.median(values) if values else 0.1

    def unit(self, cells: Iterable[tuple[str, str]]) -> float:
        """The estimated wall seconds of a work unit: (behavior, target) cells run one after another."""
        return sum(self.cell(behavior, target) for behavior, target in cells)


def from_results(doc: Mapping[str, Any], previous: Durations | None = None) -> dict[str, Any]:
    """The durations document of a results document; `previous` keeps the cells this run lacks
    (a -k slice, one target's run)."""
    seconds: dict[str, dict[str, float]] = {b: dict(t) for b, t in (previous.seconds if previous else {}).items()}
    for r in doc["results"]:
        if r["status"] != "SKIP":  # a skipped cell costs nothing wherever it runs
            seconds.setdefault(r["behavior"], {})[r["target"]] = round(float(r.get("wall_s") or 0.0), 3)
    return {"schema": SCHEMA, "hypothesis_profile": doc.get("hypothesis_profile"),
            "session_seed": doc.get("session_seed"), "measured": doc.get("started"),
            "seconds": {b: dict(sorted(t.items())) for b, t in sorted(seconds.items())}}


def dumps(doc: Mapping[str, Any]) -> str:
    """JSON with a line per behavior: a new run's file reads as a diff of the behaviors that changed."""
    head = {k: v for k, v in doc.items() if k != "seconds"}
    lines = [f"  {json.dumps(b)}: {json.dumps(per_target)}" for b, per_target in doc["seconds"].items()]
    return json.dumps(head, indent=1)[:-2] + ',\n "seconds": {\n' + ",\n".join(lines) + "\n }\n}\n"


def load(path: Path) -> Durations | None:
    """The durations at `path`; None when there is no such file (BadInput when it is unusable)."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: cannot read the durations ({exc}); {HINT}") from None
    seconds = doc.get("seconds") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(seconds, dict) or not all(
            isinstance(t, dict) and all(isinstance(s, int | float) for s in t.values()) for t in seconds.values()):
        raise BadInput(f"{path}: not a durations file (expected schema {SCHEMA!r} with seconds per behavior "
                       f"and target); {HINT}")
    return Durations({b: {t: float(s) for t, s in per.items()} for b, per in seconds.items()})
