"""Compare an app's answers on a target with Node's answers to the same requests.

For an app, Node is the specification: the node target's answer in the same run is the
expected one. Two levels:

- the cell's status: status code, body bytes, and the header lines (lowercase name and
  value, any order) leaving out the transport's own (Date, Connection, Keep-Alive,
  Content-Length, Transfer-Encoding). Any difference is a FAIL.
- notes: everything else that differs (reason phrase, HTTP version, header order and case,
  framing, Connection and Keep-Alive, Date, interim 1xx responses, trailers, when the head
  and the body arrived), each linked to the micro-behavior whose subject it is (SUBJECTS).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from harness.observations import Observations
from harness.scenario import from_json
from harness.spec.causes import Cause
from harness.spec.model import Behavior, Written
from harness.verdict import Failure, Note, Verdict, expect_failures, views

# Left out of the status comparison: what the transport, not the app, decides.
TRANSPORT = frozenset({"date", "connection", "keep-alive", "content-length", "transfer-encoding"})

# The micro-behavior (specs/*.yaml) whose subject each kind of note is.
SUBJECTS: dict[str, str] = {
    "reason": "server.status.reason-from-status-codes",
    "version": "server.framing.http10-client",
    "header-case": "server.writehead.merge",
    "header-order": "server.writehead.flat-array",
    "framing:content-length": "server.framing.end-data-content-length",
    "framing:chunked": "server.framing.write-then-end-chunked",
    "framing:close": "server.framing.http10-client",
    "framing:none": "server.no-body.head",
    "connection": "server.default-headers.connection",
    "date": "server.default-headers.date",
    "interim": "info.server-auto-continue",
    "trailers": "trailers.server-add-trailers",
    "head-timing": "body.flush-headers",
    "body-timing": "stream.response-incremental",
}
# A gap Node leaves between its head (or first body bytes) and the end of its body that a
# target closing most of it is said to have buffered; shorter gaps are scheduling noise.
HEAD_GAP_MS = 40.0
BODY_GAP_MS = 100.0
SHOWN = 60  # characters of a value or body quoted in a message
SHOWN_DIFFERENCES = 2  # in a FAIL's message, before the app's log (all are in its failures)
LOGGED_LINES = 3  # of the app's log, with the first failure
# What a failing comparison shows where an `expect` failure shows its YAML.
COMPARED = "# the answer compared with Node's answer to the same requests (harness/apps/compare.py)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _pairs(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{n}: {v}" for n, v in pairs) or "none"


def _lines(headers: list[list[str]]) -> Counter[tuple[str, str]]:
    return Counter((n.lower(), v) for n, v in headers if n.lower() not in TRANSPORT)


def _body(response: Mapping[str, Any]) -> bytes:
    body = response.get("body")
    return body if isinstance(body, bytes) else b""


def _body_difference(got: bytes, want: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
    return (f"body differs from byte {at}: {len(got)} bytes {_short(got[at:at + SHOWN])} "
            f"(Node: {len(want)} bytes {_short(want[at:at + SHOWN])})")


@dataclasses.dataclass(frozen=True)
class Difference:
    """A status-level difference: the message, and its cause (the same departure seen by
    several app behaviors is one cause: no generated values in it)."""

    message: str
    cause: str


def status_differences(got: Mapping[str, Any], want: Mapping[str, Any]) -> list[Difference]:
    """Level 1 for one response: what makes the cell FAIL."""
    if got.get("error") or want.get("error"):
        if bool(got.get("error")) != bool(want.get("error")) or got.get("status") != want.get("status"):
            if got.get("error"):
                return [Difference(f"no valid response: {got.get('error')}", "app: no valid answer")]
            return [Difference(f"status {got.get('status')} (Node: no valid response: {want.get('error')})",
                               "app: an answer where Node gave none")]
    out = []
    if got.get("status") != want.get("status"):
        out.append(Difference(f"status {got.get('status')} (Node: {want.get('status')})",
                              f"app: status {got.get('status')} where Node answers {want.get('status')}"))
    if _body(got) != _body(want):
        out.append(Difference(_body_difference(_body(got), _body(want)), "app: another body"))
    have, need = _lines(got.get("headers") or []), _lines(want.get("headers") or [])
    for name in sorted({n for n, _ in (have - need) + (need - have)}):
        mine = [v for n, v in got.get("headers") or [] if n.lower() == name]
        nodes = [v for n, v in want.get("headers") or [] if n.lower() == name]
        how = "missing" if not mine else "extra" if not nodes else "another value"
        out.append(Difference(f"header {name}: {_short(mine) if mine else 'missing'} "
                              f"(Node: {_short(nodes) if nodes else 'none'})", f"app: header {name} {how}"))
    return out


def _first_spelling(headers: list[list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, _ in headers:
        out.setdefault(name.lower(), name)
    return out


def _spread(response: Mapping[str, Any]) -> tuple[float, float] | None:
    """(ms from head to last body bytes, ms from first to last body bytes)."""
    chunks = response.get("body_chunks") or []
    if not chunks or response.get("t_head") is None:
        return None
    first, last = float(chunks[0]["t"]), float(chunks[-1]["t"])
    return last - float(response["t_head"]), last - first


def notes(got: Mapping[str, Any], want: Mapping[str, Any]) -> list[Note]:
    """Level 2 for one response: differences that leave the app's answer the same (none for
    an answer with another status code: that one is not the app's answer in another form)."""
    if got.get("status") is None or got.get("status") != want.get("status"):
        return []
    out: list[Note] = []

    def note(kind: str, text: str) -> None:
        out.append({"text": text, "behavior": SUBJECTS[kind]})

    if got.get("reason") != want.get("reason"):
        note("reason", f"reason phrase {_short(got.get('reason'))} (Node: {_short(want.get('reason'))})")
    if got.get("version") != want.get("version"):
        note("version", f"HTTP/{got.get('version')} status line (Node: HTTP/{want.get('version')})")
    mine, nodes = got.get("headers") or [], want.get("headers") or []
    spelled, node_spelled = _first_spelling(mine), _first_spelling(nodes)
    recased = [f"{spelled[n]} (Node: {node_spelled[n]})" for n in spelled
               if n in node_spelled and spelled[n] != node_spelled[n]]
    if recased:
        note("header-case", "header names in another case: " + ", ".join(recased))
    shared = set(spelled) & set(node_spelled) - TRANSPORT
    order = [n for n in dict.fromkeys(n.lower() for n, _ in mine) if n in shared]
    node_order = [n for n in dict.fromkeys(n.lower() for n, _ in nodes) if n in shared]
    if order != node_order:
        note("header-order", f"header order {order} (Node: {node_order})")
    if got.get("framing") != want.get("framing"):
        note(f"framing:{want.get('framing')}", f"framing {got.get('framing')} (Node: {want.get('framing')})")
    persistence = [(n.lower(), v) for n, v in mine if n.lower() in ("connection", "keep-alive")]
    node_persistence = [(n.lower(), v) for n, v in nodes if n.lower() in ("connection", "keep-alive")]
    if persistence != node_persistence:
        note("connection", f"Connection/Keep-Alive {_pairs(persistence)} (Node: {_pairs(node_persistence)})")
    if got.get("closed") != want.get("closed"):
        note("connection", f"connection {'closed' if got.get('closed') else 'kept open'} after the response "
                           f"(Node: {'closed' if want.get('closed') else 'kept open'})")
    has_date = any(n.lower() == "date" for n, _ in mine)
    if has_date != any(n.lower() == "date" for n, _ in nodes):
        note("date", "a Date header" + (" (Node: none)" if has_date else " is missing (Node: sent one)"))
    interim = [r.get("status") for r in got.get("interim") or []]
    node_interim = [r.get("status") for r in want.get("interim") or []]
    if interim != node_interim:
        note("interim", f"interim responses {interim} (Node: {node_interim})")
    trailers = sorted((n.lower(), v) for n, v in got.get("trailers") or [])
    node_trailers = sorted((n.lower(), v) for n, v in want.get("trailers") or [])
    if trailers != node_trailers:
        note("trailers", f"trailers {_short(trailers) if trailers else 'none'} (Node: {_short(node_trailers)})")
    spread, node_spread = _spread(got), _spread(want)
    if spread is not None and node_spread is not None:
        if node_spread[0] >= HEAD_GAP_MS and spread[0] < 0.4 * node_spread[0]:
            note("head-timing", f"the head came {spread[0]:.0f} ms before the end of the body "
                                f"(Node: {node_spread[0]:.0f} ms): it waited for the body")
        if node_spread[1] >= BODY_GAP_MS and spread[1] < 0.5 * node_spread[1]:
            note("body-timing", f"the body arrived within {spread[1]:.0f} ms in "
                                f"{len(got.get('body_chunks') or [])} read(s) (Node: over {node_spread[1]:.0f} ms "
                                f"in {len(want.get('body_chunks') or [])}): not streamed as written")
    return out


def compare(responses: list[Mapping[str, Any]],
            expected: list[Mapping[str, Any]]) -> tuple[list[Difference], list[Note]]:
    """(status differences, notes) over a scenario's answers, numbered when there are several."""
    differences: list[Difference] = []
    found: list[Note] = []
    if len(responses) != len(expected):
        differences.append(Difference(f"{len(responses)} answers (Node: {len(expected)})", "app: answers missing"))
    for i, (got, want) in enumerate(zip(responses, expected, strict=False)):
        prefix = f"answer {i}: " if len(expected) > 1 else ""
        differences += [Difference(prefix + d.message, d.cause) for d in status_differences(got, want)]
        found += [{"text": prefix + n["text"], "behavior": n["behavior"]} for n in notes(got, want)]
    return differences, found


def _with_json(response: dict[str, Any]) -> None:
    """`json`: the body parsed as JSON (null when it is not JSON)."""
    try:
        response["json"] = json.loads(_body(response).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        response["json"] = None


def app_views(observations: Observations) -> dict[str, Any]:
    """The views of harness/verdict.py (reply, wire.responses.<i> with header, body_text)
    plus `json` on every answer, for the assertions of an app behavior's `expect`."""
    v = views(observations)
    for response in (v.get("wire") or {}).get("responses") or []:
        _with_json(response)
    return v


def app_verdict(behavior: Behavior, inputs: Mapping[str, Any], observations: Observations,
                causes: Mapping[str, Cause] | None = None) -> Verdict:
    """An app behavior's verdict on a scenario that ran (SCENARIO.md, "App scenario")."""
    obs: dict[str, Any] = dict(observations)
    app = obs.get("app", "?")
    log = f"; the app's log during the scenario:\n{obs['detail']}" if obs.get("detail") else ""
    compared = Written(behavior.source, behavior.line, COMPARED)
    if obs.get("app_error"):
        why = str(obs["app_error"])
        return Verdict("FAIL", why, [Failure(why, compared, why.splitlines()[0])])
    oracle = obs.get("oracle")
    if oracle is None:  # this target is Node: its answer must be what the behavior says
        failed = expect_failures(behavior, inputs, app_views(observations), causes)
        if failed:
            return Verdict("FAIL", "; ".join(f.message for f in failed) + log, failed)
        return Verdict("PASS")
    if oracle.get("error"):
        return Verdict("ERROR", f"no answer from Node to compare with: {oracle['error']}")
    responses = from_json((obs.get("wire") or {}).get("responses") or [])
    expected = from_json((oracle.get("wire") or {}).get("responses") or [])
    differences, found = compare(responses, expected)
    if differences:
        shown = [d.message for d in differences[:SHOWN_DIFFERENCES]] + (
            [f"{len(differences) - SHOWN_DIFFERENCES} more"] if len(differences) > SHOWN_DIFFERENCES else [])
        failed = [Failure(d.message, compared, d.cause) for d in differences]
        if obs.get("detail"):  # where the matrix lists failures, the first one carries what the app logged
            said = " | ".join(str(obs["detail"]).splitlines()[:LOGGED_LINES])
            failed[0] = dataclasses.replace(failed[0], message=f"{failed[0].message}; the app logged: {said}")
        return Verdict("FAIL", f"{app} answers differently from Node: " + "; ".join(shown) + log, failed, found)
    return Verdict("PASS", notes=found)
