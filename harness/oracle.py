"""Differential mode: compare a target's observations with the oracle's (Node's).

Only what must differ between two runs is normalised: times, ports, dates, connection
ids and raw head bytes (which embed the port). Everything else that differs is a
finding, reported side by side as `path: oracle=... target=...`.
"""

from __future__ import annotations

import re
from typing import Any

from harness.observations import Observations

_DROP_KEYS = frozenset({"t", "t_head", "ctx", "detail", "head_raw", "conn", "port", "addresses"})
_PORT = re.compile(r"127\.0\.0\.1:\d+")
_DATE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")


def _norm_scalar(value: Any) -> Any:
    if isinstance(value, str):
        if _DATE.match(value):
            return "<date>"
        return _PORT.sub("127.0.0.1:<port>", value)
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _DROP_KEYS:
                continue
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}.{i}"))
    else:
        out[prefix] = _norm_scalar(value)
    return out


def compare(oracle: Observations, target: Observations, limit: int = 20) -> list[str]:
    """Paths whose normalised values differ; at most `limit` lines."""
    a, b = flatten(oracle), flatten(target)
    diffs = [f"{p}: oracle={a.get(p)!r} target={b.get(p)!r}"
             for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]
    if len(diffs) > limit:
        diffs = diffs[:limit] + [f"... and {len(diffs) - limit} more"]
    return diffs
