"""The verdict: one pure function from (behavior, profile, inputs, observations) to a status.

The statuses, their meaning and severity are in harness/status.py. A FAIL lists its failing
`expect` entries, each with where it is written and its cause: the first of its `cause:`
tags that applies (specs/causes.yaml, harness/spec/causes.py), else an automatic one named
by the entry's observation path and what was observed (automatic_cause), so that one
departure seen by several behaviors is one cause.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from harness.observations import Observations
from harness.scenario import from_json
from harness.spec.assertions import Outcome, check
from harness.spec.causes import Cause, tags
from harness.spec.expr import ExprError
from harness.spec.model import Behavior, Written
from harness.status import STATUS, Kind

_RUN_STATUS = {"timeout": "TIMEOUT", "crash": "CRASH", "error": "ERROR", "skipped": "SKIP"}


class Note(TypedDict):
    """A difference that leaves the status alone, linked to the behavior whose subject it is."""

    text: str
    behavior: str


@dataclass(frozen=True)
class Failure:
    """One failing `expect` entry."""

    message: str  # what was expected, what was observed
    written: Written  # its file:line and YAML text
    cause: str  # a specs/causes.yaml id, or an automatic one (automatic_cause)
    named: bool = False  # the cause is one of specs/causes.yaml


@dataclass(frozen=True)
class Verdict:
    status: str
    message: str = ""
    failures: list[Failure] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)  # app behaviors: see harness/apps/compare.py

    @property
    def causes(self) -> list[str]:
        """A finding's causes: the named causes of its failing entries, each once; with none,
        the automatic cause of the first (the entries after it often fail because of it). For a
        run that did not finish (TIMEOUT, CRASH): what the target reported, numbers left out."""
        if STATUS[self.status].kind is not Kind.FINDING:
            return []
        named = [f.cause for f in self.failures if f.named]
        if named:
            return list(dict.fromkeys(named))
        if self.failures:
            return [self.failures[0].cause]
        first = (self.message.splitlines() or [""])[0]
        return [f"{self.status}: {re.sub(r'[0-9]+', 'N', first)[:120]}"]


_SHORT = 60  # longest JSON of an observed value an automatic cause keeps as it is


def automatic_cause(assertion: Mapping[str, Any], observed: Any, written: Written) -> str:
    """`<path> = <observed>` when what an `at:` entry observed is short (null, a number, a
    short text or list): the same departure seen by several behaviors is one cause. Anything
    longer (likely drawn by Hypothesis) and a `value:` entry (its path is an expression) make
    a cause of their own, named by where the entry is written."""
    if "at" not in assertion:
        return f"value at {written.location}"
    try:
        text = json.dumps(observed, ensure_ascii=False)
    except (TypeError, ValueError):  # bytes, or anything else JSON does not hold
        text = ""
    if text and len(text) <= _SHORT:
        return f"{assertion['at']} = {text}"
    return f"{assertion['at']} at {written.location}"


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


def _failure(assertion: Mapping[str, Any], outcome: Outcome, written: Written, inputs: Mapping[str, Any],
             view: Any, causes: Mapping[str, Cause]) -> Failure:
    """The failing entry with its cause: the first of its tags whose symptom holds, else automatic."""
    for cid in tags(assertion):
        cause = causes.get(cid)
        if cause is None or cause.symptom is None or check(cause.symptom, inputs, view).ok:
            return Failure(outcome.message, written, cid, named=True)
    return Failure(outcome.message, written, automatic_cause(assertion, outcome.observed, written))


def _failures(entries: list[tuple[dict[str, Any], Written]], inputs: Mapping[str, Any], view: Any,
              causes: Mapping[str, Cause]) -> list[Failure]:
    outcomes = ((a, w, check(a, inputs, view)) for a, w in entries)
    return [_failure(a, o, w, inputs, view, causes) for a, w, o in outcomes if not o.ok]


def expect_failures(behavior: Behavior, inputs: Mapping[str, Any], view: Any,
                    causes: Mapping[str, Cause] | None = None) -> list[Failure]:
    """The failing entries of the behavior's own `expect` (not its fetch_backed variant)."""
    return _failures(behavior.expect_entries()[:len(behavior.expect)], inputs, view, causes or {})


def verdict(behavior: Behavior, profile: str, inputs: Mapping[str, Any],
            observations: Observations, causes: Mapping[str, Cause] | None = None) -> Verdict:
    """causes: specs/causes.yaml, for the symptoms of the causes the entries name."""
    run_status = observations.get("status", "ok")
    if run_status != "ok":
        status = _RUN_STATUS.get(run_status, "ERROR")
        return Verdict(status, str(observations.get("detail") or run_status))
    entries = behavior.expect_entries()
    causes = causes or {}
    try:
        if behavior.kind == "app":  # differential: Node's answer is the expected one
            from harness.apps.compare import app_verdict

            return app_verdict(behavior, inputs, observations, causes)
        view = views(observations)
        failed = _failures(entries[:len(behavior.expect)], inputs, view, causes)
        if not failed:
            return Verdict("PASS")
        variant = behavior.fetch_backed
        if profile == "fetch-backed" and variant is not None:
            # The declared limitation explains `expect` failing: the failures are the variant's.
            declared = _failures(entries[len(behavior.expect):], inputs, view, causes)
            if not declared:
                return Verdict(variant.status, f"{variant.limitation}: {variant.because}")
            return Verdict("FAIL", f"declared limitation {variant.limitation} not met cleanly: "
                           + "; ".join(f.message for f in declared), declared)
        return Verdict("FAIL", "; ".join(f.message for f in failed), failed)
    except (ExprError, TypeError, KeyError, ValueError) as exc:
        return Verdict("ERROR", f"evaluating the spec failed: {type(exc).__name__}: {exc}")


def worst(statuses: list[str]) -> str:
    """How a cell's examples fold into one status: the most severe (SKIP when none ran)."""
    return max(statuses, key=lambda s: STATUS[s].severity) if statuses else "SKIP"
