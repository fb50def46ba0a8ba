"""Which node:http members the behaviors exercise, derived from the specs themselves.

A behavior exercises a member when its scenario calls it (client ops, handler ops, server
ops, agent and module reads, request()/get(), createServer()), passes it as an option
(request args keys, createServer options, Agent options) or listens for it (the
checkContinue / checkExpectation / clientError listeners), or when its Node `expect`
observes it (response.*, props.req.*, handler.*, events by name). Client and server
scenarios differ: `setHeader` on a client request is ClientRequest.setHeader, `res.setHeader`
in a handler is ServerResponse.setHeader; both are also OutgoingMessage.setHeader, the base
class that documents it too.

Used by `python -m harness coverage`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.spec.model import Behavior
from harness.spec.surface import Member, NodeTest, Reason, cited_tests

# The subclasses of OutgoingMessage: a member used through them is OutgoingMessage's too.
_OUTGOING = ("ClientRequest", "ServerResponse")
# Event sources of the observations (SCENARIO.md): what `req` and `res` are on each side.
_SOURCES = {"client": {"req": "ClientRequest", "res": "IncomingMessage"},
            "server": {"req": "IncomingMessage", "res": "ServerResponse"}}
# "req:finish" in event_names or events_by paths; names ending in _cb (req:write_cb,
# close_cb) record a callback, not an event.
_EVENT_TOKEN = re.compile(r"\b(req|res):(\w+)")
# Observation paths (numbers already replaced by N) -> the member they read.
_CLIENT_PATHS = [(re.compile(r"^(?:more\.N\.)?response\.(\w+)"), "IncomingMessage.{}"),
                 (re.compile(r"^(?:more\.N\.)?props\.req\.(\w+)"), "ClientRequest.{}"),
                 (re.compile(r"^(?:more\.N\.)?props\.res\.(?!req_is_req|isPaused_after_pause)(\w+?)(?:_at_(?:end|close))?$"),
                  "IncomingMessage.{}")]
_SERVER_PATHS = [(re.compile(r"^(?:handler|requests\.N)\.(method|url|httpVersion|headers|rawHeaders|"
                             r"headersDistinct|trailers|complete)\b"), "IncomingMessage.{}"),
                 (re.compile(r"^servers\.N\.events_by\.(?!\w*_cb\b)(\w+)"), "Server.event:{}")]
_SERVER_EVENT_LIST = re.compile(r"^servers\.N\.(?:event_names|events\.N\.name)$")
# Observation keys that report a documented member under another name.
_ALIASES = {"httpVersionMajor": "httpVersion", "httpVersionMinor": "httpVersion"}
_SERVER_LISTENERS = {"on_check_continue": "checkContinue", "on_check_expectation": "checkExpectation",
                     "on_client_error": "clientError", "on_upgrade": "upgrade", "on_connect": "connect"}


# ---------------------------------------------------------------------------------------
# Walking spec templates


def _alternatives(expr: Any) -> Iterator[Any]:
    """The literal values an expression may take where specs choose with $if."""
    if isinstance(expr, dict) and len(expr) == 1 and "$if" in expr and isinstance(expr["$if"], list):
        for branch in expr["$if"][1:3]:
            yield from _alternatives(branch)
    else:
        yield expr


def _given_values(expr: Any, given: dict[str, Any]) -> list[Any]:
    """The values of a literal, or of `{$given: name}` drawn from `one_of` or `value`."""
    if isinstance(expr, dict) and isinstance(expr.get("$given"), str):
        spec = given.get(expr["$given"]) or {}
        return list(spec.get("one_of", [spec["value"]] if "value" in spec else []))
    return [expr]


def _option_dicts(expr: Any) -> Iterator[dict[str, Any]]:
    """The literal option objects an argument may be (tags and URLs are not option objects)."""
    for alt in _alternatives(expr):
        if isinstance(alt, dict) and not any(str(k).startswith("$") for k in alt):
            yield alt


def _option_keys(expr: Any, given: dict[str, Any]) -> set[str]:
    """The keys an options argument may have: a literal object, or one built with $object pairs."""
    keys: set[str] = set()
    for alt in _alternatives(expr):
        if isinstance(alt, dict) and isinstance(alt.get("$object"), list):
            pairs = [p for p in alt["$object"] if isinstance(p, list) and len(p) == 2]
            keys |= {k for p in pairs for k in _given_values(p[0], given) if isinstance(k, str)}
        keys |= {k for d in _option_dicts(alt) for k in d}
    return keys


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _strings(node: Any) -> Iterator[str]:
    return (n for n in _walk(node) if isinstance(n, str))


# ---------------------------------------------------------------------------------------
# What one behavior touches (member ids, before checking them against the surface)


def _norm(path: Any) -> str:
    """An observation path with its indexes as N: more.0.props -> more.N.props."""
    return re.sub(r"\.-?\d+(?=\.|$)", ".N", path) if isinstance(path, str) else ""


def _op_touches(op: dict[str, Any], kind: str) -> set[str]:
    name = op["op"]
    if name in ("wait", "req.read_body") or name.startswith("socket."):
        return set()
    if name == "wait_event":
        return {f"{_SOURCES[kind].get(op.get('src', 'req'), '?')}.event:{op.get('event')}"}
    if name in ("agent.get", "agent.call", "agent.pool"):
        out = {f"Agent.{op.get('method') if name == 'agent.call' else op.get('prop')}"}
        return out | ({"http.globalAgent"} if op.get("agent") == "global" else set())
    if name in ("module.get", "module.set"):
        return {f"http.{op.get('prop')}"}
    if name == "module.call":
        return {f"http.{op.get('method')}"}
    if name == "module.same_global":  # a global class re-exported (WebSocket): the surface lists it by name
        return {str(op.get("prop"))}
    if name == "module.new":  # a bare object of an exported class: the class and the members it reads or assigns
        cls = str(op.get("class"))
        assign = op.get("assign")
        props = [*(op.get("read") or []), *(assign if isinstance(assign, dict) else {})]
        return {cls} | {f"{cls}.{p}" for p in props}
    if name == "same":  # server lifecycle op: identity of two objects reachable from req/res
        owners = _SOURCES[kind]
        return {f"{owners.get(root, '?')}.{prop}" for path in (op.get("a"), op.get("b"))
                for root, _, prop in [str(path).partition(".")] if prop}
    if name == "server.asyncDispose":
        return {"Server[Symbol.asyncDispose]"}
    if name == "res.on" and kind == "server":
        return {f"ServerResponse.event:{op.get('event')}"}
    if kind == "client" and name == "readable.pipe":  # Readable.from(chunks).pipe(req)
        return {"ClientRequest.write", "ClientRequest.end"}
    if kind == "client" and name in ("req.get", "req.set", "res.get", "res.call"):  # a client request / its response
        owner = "ClientRequest" if name.startswith("req.") else "IncomingMessage"
        return {f"{owner}.{op.get('method') if name == 'res.call' else op.get('prop')}"}
    owner, _, method = name.rpartition(".")
    owner = {"": "ClientRequest", "res": "ServerResponse", "server": "Server",
             "req": "IncomingMessage"}.get(owner, owner)
    if method in ("get", "set") and "prop" in op:
        return {f"{owner}.{op['prop']}"}
    return {f"{owner}.{method}"}


def _agent_touches(tag: Any, given: dict[str, Any]) -> set[str]:
    """A `$agent` tag: the global agent, or a new Agent and the options it is given."""
    if tag == "global":
        return {"http.globalAgent"}
    out = {"Agent"}
    for alt in _alternatives(tag):
        options = alt.get("options", {}) if isinstance(alt, dict) and "id" in alt else alt
        out |= {f"Agent.option:{k}" for k in _option_keys(options, given)}
        if isinstance(alt, dict) and "id" in alt and isinstance(alt.get("overrides"), dict):
            out |= {f"Agent.{k}" for k in alt["overrides"]}  # a method the agent is given
    return out


def _client_touches(scenario: dict[str, Any], given: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    client = scenario.get("client") or {}
    for spec in [client, *(client.get("then") or [])]:
        for req in _option_dicts(spec):
            out |= {"ClientRequest" if call == "ClientRequest" else f"http.{call}"
                    for call in _given_values(req.get("call", "request"), given)}
            out.add("ClientRequest")
            for args in _alternatives(req.get("args") or []):
                for arg in args if isinstance(args, list) else []:
                    out |= {f"request.option:{k}" for k in _option_keys(arg, given)}
            if req.get("on_timeout") == "destroy":
                out.add("ClientRequest.destroy")
            how = req.get("response") or {}
            if how.get("destroy_after_bytes") is not None or how.get("destroy_on_readable"):
                out.add("IncomingMessage.destroy")
            if how.get("abort_after_bytes") is not None:
                out.add("ClientRequest.abort")
            if how.get("pause_each_ms") is not None:
                out |= {"IncomingMessage.pause", "IncomingMessage.resume"}
    return out


def _server_touches(scenario: dict[str, Any], given: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for server in scenario.get("servers") or []:
        if not isinstance(server, dict):
            continue
        out |= {"http.createServer", "Server", "Server.listen", "Server.event:request",
                "ServerResponse", "IncomingMessage"}
        out |= {f"createServer.option:{k}" for k in _option_keys(server.get("options") or {}, given)}
        out |= {f"Server.event:{event}" for key, event in _SERVER_LISTENERS.items() if key in server}
        out |= {f"Server.{k}" for k in server.get("set") or {} if isinstance(k, str)}
    return out


def _expect_touches(expect: list[dict[str, Any]], kind: str) -> set[str]:
    out: set[str] = set()
    patterns = _CLIENT_PATHS if kind == "client" else _SERVER_PATHS
    for assertion in expect:
        paths = [assertion.get("at")] + [n["$obs"] for n in _walk(assertion) if isinstance(n, dict) and "$obs" in n]
        for n in _walk(assertion):  # {$get: [{$obs: props}, req.reusedSocket]} reads props.req.reusedSocket
            if isinstance(n, dict) and isinstance(n.get("$get"), list) and len(n["$get"]) == 2:
                base, key = n["$get"]
                if isinstance(base, dict) and isinstance(base.get("$obs"), str) and isinstance(key, str):
                    paths.append(f"{base['$obs']}.{key}")
        for path in (_norm(p) for p in paths if isinstance(p, str)):
            for pattern, member in patterns:
                if m := pattern.match(path):
                    out.add(member.format(_ALIASES.get(m.group(1), m.group(1))))
        if kind == "server" and _SERVER_EVENT_LIST.match(_norm(assertion.get("at"))):
            # servers.0.event_names contains: connection -> the server's 'connection' event
            checks = {k: v for k, v in assertion.items() if k not in ("at", "when", "because")}
            out |= {f"Server.event:{text}" for text in _strings(checks) if not text.endswith("_cb")}
        for text in _strings({k: v for k, v in assertion.items() if k != "because"}):
            for src, name in _EVENT_TOKEN.findall(text):
                if not name.endswith("_cb"):
                    out.add(f"{_SOURCES[kind][src]}.event:{name}")
    return out


def touches(behavior: Behavior) -> set[str]:
    """Every member id the behavior exercises, including ones the surface may not list."""
    scenario, kind, given = behavior.scenario, behavior.kind, behavior.given
    if kind == "app":  # a real application calls node:http through its framework: no member is named
        return set()
    out = (_client_touches if kind == "client" else _server_touches)(scenario, given)
    for node in _walk(scenario):
        if isinstance(node, dict) and isinstance(node.get("op"), str):
            out |= _op_touches(node, kind)
        if isinstance(node, dict) and len(node) == 1 and "$agent" in node:
            out |= _agent_touches(node["$agent"], given)
    return out | _expect_touches(behavior.expect, kind)


def _inherited(member_id: str, ids: set[str]) -> set[str]:
    """Used through a subclass, a member (and the class) is OutgoingMessage's too, where documented."""
    for cls in _OUTGOING:
        if member_id == cls or member_id.startswith(cls + "."):
            base = "OutgoingMessage" + member_id[len(cls):]
            return {base} if base in ids else set()
    return set()


# ---------------------------------------------------------------------------------------
# The report


GROUPS = {"Agent": "http.Agent", "ClientRequest": "http.ClientRequest", "Server": "http.Server",
          "ServerResponse": "http.ServerResponse", "IncomingMessage": "http.IncomingMessage",
          "OutgoingMessage": "http.OutgoingMessage", "http": "module (http.*)",
          "createServer": "createServer options", "request": "request/get options"}


def group_of(member_id: str) -> str:
    return re.split(r"[.\[]", member_id, maxsplit=1)[0]


@dataclass
class ApiCoverage:
    members: list[Member]
    by_member: dict[str, list[str]]  # member id -> behaviors exercising it
    reasons: dict[str, Reason]
    unlisted: dict[str, list[str]] = field(default_factory=dict)  # touched ids the surface lacks

    def status(self, member_id: str) -> str:
        if self.by_member.get(member_id):
            return "exercised"
        return "explained" if member_id in self.reasons else "uncovered"

    @property
    def covered(self) -> int:
        return sum(1 for m in self.members if self.status(m.id) != "uncovered")

    @property
    def stale_reasons(self) -> list[str]:
        """NOT-COVERED entries for members a behavior now exercises."""
        return sorted(m for m in self.reasons if self.by_member.get(m))


def api_coverage(behaviors: list[Behavior], members: list[Member], reasons: dict[str, Reason]) -> ApiCoverage:
    ids = {m.id for m in members}
    by_member: dict[str, list[str]] = {m.id: [] for m in members}
    unlisted: dict[str, list[str]] = {}
    for b in behaviors:
        direct = touches(b)
        for member in sorted(direct | {i for t in direct for i in _inherited(t, ids)}):
            (by_member if member in ids else unlisted).setdefault(member, []).append(b.id)
    return ApiCoverage(members, by_member, reasons, unlisted)


@dataclass
class TestsCoverage:
    tests: list[NodeTest]
    cited: dict[str, list[str]]  # test file -> behaviors whose node.test names it

    def covered_by(self, test: NodeTest) -> list[str]:
        # Only the reviewed mapping counts: a behavior's node.test is a pointer for readers
        # and may name a file whose subject is only near its own.
        return sorted(test.behaviors)

    @property
    def applicable(self) -> list[NodeTest]:
        return [t for t in self.tests if t.not_applicable is None]

    @property
    def covered(self) -> list[NodeTest]:
        return [t for t in self.applicable if self.covered_by(t)]

    @property
    def unlisted(self) -> list[str]:
        """Files behaviors cite that node-tests.yaml does not list."""
        listed = {t.file for t in self.tests}
        return sorted(f for f in self.cited if f not in listed)


def tests_coverage(behaviors: list[Behavior], tests: list[NodeTest]) -> TestsCoverage:
    cited: dict[str, list[str]] = {}
    for b in behaviors:
        for f in cited_tests(b.node):
            cited.setdefault(f, []).append(b.id)
    return TestsCoverage(tests, cited)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def api_lines(api: ApiCoverage, verbose: bool) -> list[str]:
    """The per-group summary (and with verbose, one row per member first)."""
    from tabulate import tabulate

    lines: list[str] = []
    if verbose:
        rows = [[m.id, m.kind, len(api.by_member[m.id]) or "", _reason_cell(api, m.id)] for m in api.members]
        lines += tabulate(rows, headers=["member", "kind", "behaviors", "not covered because"]).splitlines() + [""]
    groups: dict[str, list[Member]] = {}
    for m in api.members:
        groups.setdefault(group_of(m.id), []).append(m)
    rows = []
    for g, members in groups.items():
        counts = {s: sum(1 for m in members if api.status(m.id) == s) for s in ("exercised", "explained", "uncovered")}
        rows.append([GROUPS.get(g, g), len(members), counts["exercised"], counts["explained"], counts["uncovered"],
                     _percent(counts["exercised"], len(members))])
    lines += tabulate(rows, headers=["class", "members", "exercised", "NOT-COVERED", "uncovered",
                                     "exercised %"]).splitlines()
    if api.stale_reasons:
        lines.append(f"note: NOT-COVERED.md explains {len(api.stale_reasons)} member(s) a behavior now "
                     f"exercises: {', '.join(api.stale_reasons)}")
    if verbose and api.unlisted:
        lines.append("touched but not in api-surface.yaml (stream, net or tls members, or undocumented): "
                     + ", ".join(sorted(api.unlisted)))
    return lines


def _reason_cell(api: ApiCoverage, member_id: str) -> str:
    status = api.status(member_id)
    if status == "explained":
        return api.reasons[member_id].text
    return "UNCOVERED" if status == "uncovered" else ""


def tests_lines(tests: TestsCoverage, verbose: bool) -> list[str]:
    from tabulate import tabulate

    lines: list[str] = []
    if verbose:
        rows = []
        for t in tests.tests:
            by = tests.covered_by(t)
            state = f"n/a: {t.not_applicable}" if t.not_applicable else (", ".join(by) if by else "NOT YET")
            rows.append([t.file, t.subject or "", state])
        lines += tabulate(rows, headers=["node test", "subject", "behaviors"]).splitlines() + [""]
    if tests.unlisted:
        names = ": " + ", ".join(tests.unlisted) if verbose else " (--verbose lists them)"
        lines.append(f"note: behaviors cite {len(tests.unlisted)} test file(s) node-tests.yaml does not list{names}")
    return lines


def tests_summary(tests: TestsCoverage) -> str:
    n, na, covered = len(tests.tests), len(tests.tests) - len(tests.applicable), len(tests.covered)
    return (f"node tests: {covered}/{n} files covered, {na} not applicable "
            f"({covered}/{n - na} of the applicable)")


def api_summary(api: ApiCoverage) -> list[str]:
    exercised = sum(1 for m in api.members if api.status(m.id) == "exercised")
    return [f"api surface: {exercised} exercised by behaviors, {api.covered - exercised} explained in NOT-COVERED.md",
            f"api surface: {api.covered}/{len(api.members)} members covered"]


def fraction(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def run(specs_dir: Path, cases_dir: Path, verbose: bool, min_api: float | None, min_tests: float | None,
        tests_required: bool = False) -> int:
    """`python -m harness coverage`: 0, 1 when below a minimum, 2 on bad input."""
    from harness.spec import SpecError, load_all
    from harness.spec.surface import NODE_TESTS_FILE, load_surface_files

    try:
        behaviors = load_all(specs_dir, cases_dir)
        files = load_surface_files(specs_dir, [b.id for b in behaviors])
    except SpecError as exc:
        print(f"coverage: {exc}", file=sys.stderr)
        return 2
    api = api_coverage(behaviors, files.members, files.reasons)
    lines = api_lines(api, verbose)
    below: list[str] = []
    if files.node_tests is None:
        if tests_required:
            print(f"coverage: {specs_dir / NODE_TESTS_FILE} not found (needed by --min-node-tests)", file=sys.stderr)
            return 2
        lines.append(f"node tests: {specs_dir / NODE_TESTS_FILE} not found")
    else:
        tests = tests_coverage(behaviors, files.node_tests)
        lines += tests_lines(tests, verbose) + [tests_summary(tests)]
        got = fraction(len(tests.covered), len(tests.applicable))
        if min_tests is not None and got < min_tests:
            below.append(f"node tests {got:.3f} < {min_tests}")
    lines += api_summary(api)
    print("\n".join(lines))
    got = fraction(api.covered, len(api.members))
    if min_api is not None and got < min_api:
        below.append(f"api surface {got:.3f} < {min_api}")
    if below:
        print("coverage below the minimum: " + "; ".join(below), file=sys.stderr)
    return 1 if below else 0
