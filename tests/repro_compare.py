"""Observations compared modulo what changes from run to run: times and ports."""

from __future__ import annotations

import base64
import re
from typing import Any

TIMES = {"t", "t_head", "ms", "elapsed_ms"}
# a Date header ticks between the two runs being compared
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def ports(obs: dict[str, Any]) -> set[int]:
    found = {int((obs.get("ctx") or {}).get("origin_port") or 0)}
    found |= {int(s.get("port") or 0) for s in obs.get("servers") or []}
    # the client's end of each connection the origin accepted (an ephemeral port)
    found |= {int((r.get("peer") or {}).get("port") or 0) for r in (obs.get("wire") or {}).get("requests") or []}
    return found - {0}


def _text(text: str, seen: set[int]) -> str:
    for port in seen:
        text = text.replace(str(port), "PORT")
    return HTTP_DATE.sub("DATE", text)


def normalise(value: Any, seen: set[int]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return {"$bytes": _text(base64.b64decode(value["$bytes"]).decode("latin-1"), seen)}
        return {k: None if k in TIMES else normalise(v, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, seen) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value in seen:
        return "PORT"
    if isinstance(value, str):
        return _text(value, seen)
    return value
