"""The verdict: one pure function from (behavior, profile, inputs, observations) to a status.

The statuses, their meaning and severity are in harness/status.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.observations import Observations
from harness.scenario import from_json
from harness.spec.assertions import check
from harness.spec.expr import ExprError
from harness.spec.model import Behavior
from harness.status import STATUS

_RUN_STATUS = {"timeout": "TIMEOUT", "crash": "CRASH", "error": "ERROR", "skipped": "SKIP"}


@dataclass(frozen=True)
class Verdict:
    status: str
    message: str = ""
    failures: list[str] = field(default_factory=list)


def _header_view(pairs: list[list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name.lower(), []).append(value)
    return out


def _wire_message(msg: dict[str, Any]) -> dict[str, Any]:
    pairs = msg.get("headers") or []
    body = msg.get("body") or b""
    return {**msg, "header": _header_view(pairs), "header_names": [n for n, _ in pairs],
            "trailer": _header_view(msg.get("trailers") or []),
            "body_text": body.decode("utf-8", "replace") if isinstance(body, bytes) else body}


def _event_views(events: list[dict[str, Any]]) -> dict[str, Any]:
    names = [f"{e.get('src', '?')}:{e.get('name')}" for e in events]
    first: dict[str, Any] = {}
    for name, event in zip(names, events, strict=True):
        first.setdefault(name, event)
    return {"event_names": names, "events_by": first,
            "errors": [e["error"] for e in events if e.get("error")]}


def views(observations: Observations) -> dict[str, Any]:
    """Observations plus derived views that keep spec paths short:
    event_names, events_by.<src:name>, errors, body_text (also on each more.<i>);
    agents.<id>.event_names; servers.<i>.event_names and servers.<i>.events_by.<name>;
    wire messages get header.<lower-name> -> [values], header_names, trailer.<name>,
    body_text; `request` (client scenarios) is wire.requests.0, `reply` (server
    scenarios) is wire.responses.0 and `handler` is requests.0."""
    v: dict[str, Any] = from_json(dict(observations))
    wire = v.get("wire") or {}
    if "requests" in wire:
        wire["requests"] = [_wire_message(r) for r in wire["requests"]]
        v["request"] = wire["requests"][0] if wire["requests"] else None
    if "responses" in wire:
        wire["responses"] = [_wire_message(r) for r in wire["responses"]]
        v["reply"] = wire["responses"][0] if wire["responses"] else None
    v["wire"] = wire
    v.update(_event_views(v.get("events") or []))
    body = v.get("body")
    if isinstance(body, bytes):
        v["body_text"] = body.decode("utf-8", "replace")
    for more in v.get("more") or []:  # client scenarios: the further requests, same views
        if isinstance(more, dict):
            more.update(_event_views(more.get("events") or []))
            if isinstance(more.get("body"), bytes):
                more["body_text"] = more["body"].decode("utf-8", "replace")
    for named in (v.get("agents") or {}).values():  # named agents: agents.<id>.event_names
        if isinstance(named, dict):
            named["event_names"] = [e.get("name") for e in named.get("events") or []]
    for server in v.get("servers") or []:  # server scenarios: servers.<i>.event_names / events_by
        if isinstance(server, dict):
            events = server.get("events") or []
            server["event_names"] = [e.get("name") for e in events]
            first: dict[str, Any] = {}
            for e in events:
                first.setdefault(str(e.get("name")), e)
            server["events_by"] = first
    if isinstance(v.get("requests"), list):  # server scenarios: what each handler saw
        for req in v["requests"]:
            req.update(_event_views(req.get("events") or []))
            if isinstance(req.get("body"), bytes):
                req["body_text"] = req["body"].decode("utf-8", "replace")
        v["handler"] = v["requests"][0] if v["requests"] else None
    return v


def _failures(assertions: list[dict[str, Any]], inputs: Mapping[str, Any], view: Any) -> list[str]:
    return [o.message for o in (check(a, inputs, view) for a in assertions) if not o.ok]


def verdict(behavior: Behavior, profile: str, inputs: Mapping[str, Any],
            observations: Observations) -> Verdict:
    run_status = observations.get("status", "ok")
    if run_status != "ok":
        status = _RUN_STATUS.get(run_status, "ERROR")
        return Verdict(status, str(observations.get("detail") or run_status))
    try:
        view = views(observations)
        failed = _failures(behavior.expect, inputs, view)
        if not failed:
            return Verdict("PASS")
        variant = behavior.fetch_backed
        if profile == "fetch-backed" and variant is not None:
            declared = _failures(variant.expect, inputs, view)
            if not declared:
                return Verdict(variant.status, f"{variant.limitation}: {variant.because}")
            return Verdict("FAIL", f"declared limitation {variant.limitation} not met cleanly: "
                           + "; ".join(declared), failed + declared)
        return Verdict("FAIL", "; ".join(failed), failed)
    except (ExprError, TypeError, KeyError, ValueError) as exc:
        return Verdict("ERROR", f"evaluating the spec failed: {type(exc).__name__}: {exc}")


def worst(statuses: list[str]) -> str:
    """How a cell's examples fold into one status: the most severe (SKIP when none ran)."""
    return max(statuses, key=lambda s: STATUS[s].severity) if statuses else "SKIP"
