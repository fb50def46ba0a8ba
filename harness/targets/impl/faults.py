"""Named faults for the impl target: each one breaks a family of behaviors on purpose.

`pytest --target=impl --fault NAME` (or `python -m harness run --fault NAME`) runs the
suite on a deliberately broken node:http, to show that the specs notice: every behavior
that the healthy reference meets must turn non-PASS under at least one fault
(tests/test_faults.py checks exactly that). Faults act through the hooks of
fault_hooks.Fault: some change what the implementation is asked to do (a header dropped,
a body byte flipped, a status off by one, so the wire itself is wrong), one changes the
bytes fetch writes (recase-request-headers), others change what the implementation
reports to its caller (errors swallowed, events out of order, a response buffered
instead of streamed).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import httpx

from harness.observations import Json, WireRecord
from harness.reference import urls
from harness.reference.fetch import shared_client
from harness.targets.impl.fault_hooks import Fault, FaultContext

_HEADER_OPS = {"setHeader", "res.setHeader", "res.appendHeader", "res.setHeaders"}


def _flip(data: Any) -> Any:
    """The same value with its first byte or character changed; empty gets one byte."""
    if isinstance(data, bytes | bytearray):
        return bytes([data[0] ^ 0x01]) + bytes(data[1:]) if data else b"!"
    if isinstance(data, str):
        return chr(ord(data[0]) ^ 0x01) + data[1:] if data else "!"
    if isinstance(data, dict) and isinstance(data.get("$bytes"), str):  # a scenario's bytes tag
        flipped = _flip(base64.b64decode(data["$bytes"]))
        return {"$bytes": base64.b64encode(flipped).decode()}
    return data


def _options(args: list[Any]) -> list[dict[str, Any]]:
    return [a for a in args if isinstance(a, dict)]


class DropUserHeaders(Fault):
    name = "drop-user-headers"
    description = "request headers given in options (or on a URL object) or setHeader are never sent"

    def on_options(self, args: list[Any]) -> list[Any]:
        for opts in _options(args):
            opts.pop("headers", None)
        for url in args:
            if isinstance(url, urls.URL):
                url.own.pop("headers", None)
        return args

    def on_op(self, op: Json) -> Json | None:
        return None if op.get("op") == "setHeader" else op


class AlterHeaderValues(Fault):
    name = "alter-header-values"
    description = "every request header value gets '-x' appended"

    @staticmethod
    def _alter(value: Any) -> Any:
        if isinstance(value, str):
            return value + "-x"
        if isinstance(value, list):
            return [v + "-x" if isinstance(v, str) else v for v in value]
        return value

    def on_options(self, args: list[Any]) -> list[Any]:
        for opts in _options(args):
            headers = opts.get("headers")
            if isinstance(headers, dict):
                opts["headers"] = {k: self._alter(v) for k, v in headers.items()}
            elif isinstance(headers, list):
                opts["headers"] = [v if i % 2 == 0 else self._alter(v) for i, v in enumerate(headers)]
        return args

    def on_op(self, op: Json) -> Json | None:
        if op.get("op") == "setHeader" and len(op.get("args", [])) >= 2:
            op = copy.deepcopy(op)
            op["args"][1] = self._alter(op["args"][1])
        return op


class RecaseRequestHeaders(Fault):
    name = "recase-request-headers"
    description = "every request header name goes out on the wire in Title-Case (x-my-name: X-My-Name)"

    def on_options(self, args: list[Any]) -> list[Any]:
        # request() runs inside the target's event loop: hook that loop's fetch client, whose
        # request hooks run after fetch() built the header list and before h11 writes it.
        client = shared_client()
        if self._title_case not in client.event_hooks["request"]:
            client.event_hooks["request"].append(self._title_case)
        return args

    @staticmethod
    async def _title_case(request: httpx.Request) -> None:
        request.headers = httpx.Headers(
            [(b"-".join(part.capitalize() for part in name.split(b"-")), value)
             for name, value in request.headers.raw])


class CorruptRequestBody(Fault):
    name = "corrupt-request-body"
    description = "the first byte of every request body chunk (write/end) is flipped"

    def on_op(self, op: Json) -> Json | None:
        if op.get("op") in ("write", "end") and op.get("args"):
            op = copy.deepcopy(op)
            op["args"][0] = _flip(op["args"][0])
        return op


class IgnoreMethod(Fault):
    name = "ignore-method"
    description = "options.method is ignored: every request is a GET"

    def on_options(self, args: list[Any]) -> list[Any]:
        for opts in _options(args):
            opts.pop("method", None)
        return args


class IgnoreAuth(Fault):
    name = "ignore-auth"
    description = "options.auth and URL userinfo are dropped"

    def on_options(self, args: list[Any]) -> list[Any]:
        out: list[Any] = []
        for a in args:
            if isinstance(a, dict):
                a.pop("auth", None)
            elif isinstance(a, str) and "//" in a:
                scheme, rest = a.split("//", 1)
                authority, slash, path = rest.partition("/")
                a = f"{scheme}//{authority.rpartition('@')[2]}{slash}{path}"
            out.append(a)
        return out


class RewritePath(Fault):
    name = "rewrite-path"
    description = "the request path gets '/x' prepended (options.path and URL strings)"

    def on_options(self, args: list[Any]) -> list[Any]:
        out: list[Any] = []
        for a in args:
            if isinstance(a, dict) and isinstance(a.get("path"), str):
                a["path"] = "/x" + a["path"]
            elif isinstance(a, str) and a.count("/") >= 3:
                scheme, rest = a.split("//", 1)
                host, _, path = rest.partition("/")
                a = f"{scheme}//{host}/x/{path}"
            out.append(a)
        return out


class SwallowErrors(Fault):
    name = "swallow-errors"
    description = "errors are never reported: no throws, no 'error' events"

    def on_observations(self, obs: Json) -> Json:
        obs["threw"] = None
        for calls in [obs.get("calls") or [], *[r.get("calls") or [] for r in obs.get("requests") or []]]:
            for call in calls:
                call["threw"] = None
        obs["events"] = [e for e in obs.get("events") or [] if "error" not in e]
        for req in obs.get("requests") or []:
            req["events"] = [e for e in req.get("events") or [] if "error" not in e]
        for server in obs.get("servers") or []:
            server["listen_error"] = None
        return obs


class CorruptResponseBody(Fault):
    name = "corrupt-response-body"
    description = "the first byte of every response body chunk the client reads is flipped"

    def on_chunk(self, data: bytes) -> bytes:
        return _flip(data)


class BufferResponse(Fault):
    name = "buffer-response"
    description = "the response body is delivered in one piece when it ends (no streaming)"

    def on_observations(self, obs: Json) -> Json:
        chunks = obs.get("chunks") or []
        if len(chunks) > 1:
            last = chunks[-1]
            obs["chunks"] = [{**last, "len": sum(c["len"] for c in chunks)}]
            data = [e for e in obs.get("events") or [] if e.get("src") == "res" and e.get("name") == "data"]
            keep = data[-1] if data else None
            obs["events"] = [e for e in obs["events"] if e not in data or e is keep]
            if keep is not None:
                keep["len"] = obs["chunks"][0]["len"]
        return obs


class ReorderEvents(Fault):
    name = "reorder-events"
    description = "events are reported in reverse order"

    def on_observations(self, obs: Json) -> Json:
        obs["events"] = list(reversed(obs.get("events") or []))
        for req in obs.get("requests") or []:
            req["events"] = list(reversed(req.get("events") or []))
        return obs


class MangleResponseHead(Fault):
    name = "mangle-response-head"
    description = "the client sees status + 1, an upper-cased reason and upper-cased header names"

    def on_observations(self, obs: Json) -> Json:
        res = obs.get("response")
        if isinstance(res, dict):
            if isinstance(res.get("statusCode"), int):
                res["statusCode"] += 1
            if isinstance(res.get("statusMessage"), str):
                res["statusMessage"] = res["statusMessage"].upper() + "!"
            for key in ("headers", "headersDistinct", "trailers"):
                if isinstance(res.get(key), dict):
                    res[key] = {k.upper(): v for k, v in res[key].items()}
            if isinstance(res.get("rawHeaders"), list):
                res["rawHeaders"] = [v.swapcase() if isinstance(v, str) and i % 2 == 0 else v
                                     for i, v in enumerate(res["rawHeaders"])]
            res["httpVersion"] = "1.0"
            res["complete"] = not res.get("complete")
        return obs


class ServerWrongStatus(Fault):
    name = "server-wrong-status"
    description = "the server answers status + 1 and drops custom reason phrases"

    def on_op(self, op: Json) -> Json | None:
        if op.get("op") == "res.set" and op.get("prop") == "statusCode" and isinstance(op.get("value"), int):
            return {**op, "value": op["value"] + 1}
        if op.get("op") == "res.set" and op.get("prop") == "statusMessage":
            return None
        if op.get("op") == "res.writeHead" and op.get("args") and isinstance(op["args"][0], int):
            args = list(op["args"])
            args[0] += 1
            if len(args) > 1 and isinstance(args[1], str):
                args[1] = args[1] + "!"
            return {**op, "args": args}
        return op


class ServerDropHeaders(Fault):
    name = "server-drop-headers"
    description = "response headers set by the handler (setHeader, appendHeader, writeHead) are dropped"

    def on_op(self, op: Json) -> Json | None:
        if op.get("op") in _HEADER_OPS:
            return None
        if op.get("op") == "res.writeHead" and op.get("args"):
            args = [a for a in op["args"] if not isinstance(a, dict | list)]
            return {**op, "args": args}
        return op


class ServerCorruptBody(Fault):
    name = "server-corrupt-body"
    description = "the first byte of every response chunk the handler writes is flipped"

    def on_op(self, op: Json) -> Json | None:
        if op.get("op") in ("res.write", "res.end") and op.get("args"):
            op = copy.deepcopy(op)
            op["args"][0] = _flip(op["args"][0])
        return op


class ServerRequestView(Fault):
    name = "server-request-view"
    description = "the handler sees a normalised request: method lower-cased, url '/', header names upper-cased, body flipped"

    def on_observations(self, obs: Json) -> Json:
        for req in obs.get("requests") or []:
            if isinstance(req.get("method"), str):
                req["method"] = req["method"].lower()
            req["url"] = "/"
            for key in ("headers", "headersDistinct"):
                if isinstance(req.get(key), dict):
                    req[key] = {k.upper(): v for k, v in req[key].items()}
            if isinstance(req.get("rawHeaders"), list):
                req["rawHeaders"] = [v.swapcase() if isinstance(v, str) and i % 2 == 0 else v
                                     for i, v in enumerate(req["rawHeaders"])]
            body = req.get("body")
            if isinstance(body, dict) and body.get("$bytes"):
                req["body"] = {"$bytes": "AA" + body["$bytes"][2:]}
        return obs


class ServerFramingSwap(Fault):
    name = "server-framing-swap"
    description = "res.end(data) streams (write + end: chunked); a write before end is held back and sent with end (Content-Length)"

    def __init__(self) -> None:
        self.held: list[Any] = []

    def on_options(self, args: list[Any]) -> list[Any]:
        self.held = []  # a new server: nothing from an earlier scenario is carried over
        return args

    def on_op(self, op: Json) -> Json | list[Json] | None:
        kind, args = op.get("op"), list(op.get("args") or [])
        if kind == "res.write" and args:
            self.held.append(args[0])
            return None
        if kind == "res.end":
            held, self.held = self.held, []
            if held:  # what was written goes out with end, as one known-length body
                data = args[0] if args and not callable(args[0]) else b""
                return {**op, "args": [_join([*held, data])]}
            if args and isinstance(args[0], str | bytes | bytearray | dict):
                return [{"op": "res.write", "args": [args[0]]}, {"op": "res.end", "args": []}]
            return [{"op": "res.flushHeaders", "args": []}, op]
        return op


def _join(parts: list[Any]) -> Any:
    """Concatenate body chunks given as text, bytes or {"$bytes"} tags (as bytes)."""
    out = b""
    for p in parts:
        if isinstance(p, dict) and "$bytes" in p:
            out += base64.b64decode(p["$bytes"])
        elif isinstance(p, str):
            out += p.encode()
        elif isinstance(p, bytes | bytearray):
            out += bytes(p)
    return {"$bytes": base64.b64encode(out).decode()}


class ServerNoDate(Fault):
    name = "server-no-date"
    description = "the server never sends a Date header (sendDate is forced off)"

    def on_op(self, op: Json) -> Json | list[Json] | None:
        if str(op.get("op", "")).startswith("res.") and op.get("op") != "res.set":
            return [{"op": "res.set", "prop": "sendDate", "value": False}, op]
        return op


class ServerConnectionClose(Fault):
    name = "server-connection-close"
    description = "the server never keeps a connection alive (res.shouldKeepAlive forced off: Connection: close)"

    def on_op(self, op: Json) -> Json | list[Json] | None:
        if str(op.get("op", "")).startswith("res.") and op.get("op") != "res.set":
            return [{"op": "res.set", "prop": "shouldKeepAlive", "value": False}, op]
        return op


class ServerAcceptsExpectations(Fault):
    name = "server-accepts-expectations"
    description = "every Expect value is accepted: the handler answers it (no automatic 417)"

    def on_scenario(self, scenario: Json) -> Json:
        for server in scenario.get("servers") or []:
            if isinstance(server, dict) and "on_check_expectation" not in server:
                server["on_check_expectation"] = copy.deepcopy(server.get("handler") or [])
        return scenario


class BridgeIgnoresPort(Fault):
    name = "bridge-ignores-port"
    description = "the bridge routes every request to its server's own port key, whatever key it names"

    def on_scenario(self, scenario: Json) -> Json:
        for req in scenario.get("requests") or []:
            req.pop("port", None)
        return scenario


class LenientRequestParser(Fault):
    name = "lenient-request-parser"
    description = ("a request the parser refuses is answered as if it were fine: each 400 the "
                   "front end wrote reads as an empty 200 that keeps the connection (a bridge "
                   "that re-frames what it could not parse)")

    def on_wire(self, wire: WireRecord) -> WireRecord:
        for rec in wire.get("responses") or []:
            if rec.get("status") == 400:
                rec["status"], rec["reason"], rec["closed"] = 200, "OK", False
                rec["headers"], rec["framing"] = [["Content-Length", "0"]], "content-length"
        return wire


def _agent_tags(node: Any) -> list[dict[str, Any]]:
    """Every `$agent` tag's inner mapping in a scenario (named or not)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        inner = node.get("$agent") if len(node) == 1 else None
        if isinstance(inner, dict):
            found.append(inner)
        for value in node.values():
            found += _agent_tags(value)
    elif isinstance(node, list):
        for value in node:
            found += _agent_tags(value)
    return found


class AgentIgnoresOptions(Fault):
    name = "agent-ignores-options"
    description = "new Agent(options) keeps only keepAlive: no validation, every other option at its default"

    def on_scenario(self, scenario: Json) -> Json:
        for inner in _agent_tags(scenario):
            named = isinstance(inner.get("id"), str)
            options = inner.get("options") if named else inner
            if not isinstance(options, dict):
                continue
            kept = {k: v for k, v in options.items() if k == "keepAlive"}
            if named:
                inner["options"] = kept
            else:
                inner.clear()
                inner.update(kept)
        return scenario


class NumericReadsDrift(Fault):
    name = "numeric-reads-drift"
    description = "numbers read off the module and the server (http.maxHeaderSize, server.headersTimeout) are half the real value"

    def on_observations(self, obs: Json) -> Json:
        # Every op list that can hold a module.get: the client's requests and the handlers.
        lists = [obs.get("calls") or [], *[m.get("calls") or [] for m in obs.get("more") or []],
                 *[r.get("calls") or [] for r in obs.get("requests") or []]]
        for calls in lists:
            for call in calls:
                value = call.get("returned")
                if call.get("op") in ("module.get", "server.get") and isinstance(value, int) and not isinstance(value, bool):
                    call["returned"] = value // 2
        return obs


class TimerOverflow(Fault):
    name = "timer-overflow"
    description = "a timeout above 2**31 - 1 ms fires after 1 ms, as a raw web setTimeout does"

    def on_op(self, op: Json) -> Json:
        is_timeout = op.get("op") == "setTimeout" or (op.get("op") == "res.call" and op.get("method") == "setTimeout")
        args = op.get("args") or []
        if is_timeout and args and isinstance(args[0], int | float) and args[0] > 2**31 - 1:
            return {**op, "args": [1, *args[1:]]}
        return op


class ReuseClosedSocket(Fault):
    name = "reuse-closed-socket"
    description = ("a request sent after a response that said Connection: close goes out on that "
                   "dead socket: it fails with ECONNRESET 'socket hang up' and gets no response")

    def on_observations(self, obs: Json) -> Json:
        runs = [obs, *(obs.get("more") or [])]
        for before, after in zip(runs, runs[1:], strict=False):
            headers = (before.get("response") or {}).get("headers") or {}
            if "close" not in str(headers.get("connection", "")).lower():
                continue
            after["response"], after["body"], after["chunks"] = None, {"$bytes": ""}, []
            error = {"name": "Error", "code": "ECONNRESET", "message": "socket hang up"}
            events = [e for e in after.get("events") or [] if e.get("src") != "res" and e.get("name") != "response"]
            after["events"] = [*events, {"src": "req", "name": "error", "t": 0.0, "error": error}]
        return obs


class UpgradeHeaderStripped(Fault):
    name = "upgrade-header-stripped"
    description = "the server's handler never sees a request's Upgrade header, as a front end treating it as hop-by-hop"

    def on_observations(self, obs: Json) -> Json:
        for req in obs.get("requests") or []:
            headers, raw = req.get("headers"), req.get("rawHeaders")
            if isinstance(headers, dict):
                headers.pop("upgrade", None)
            if isinstance(raw, list):
                pairs = [raw[i:i + 2] for i in range(0, len(raw) - 1, 2)]
                req["rawHeaders"] = [x for p in pairs if str(p[0]).lower() != "upgrade" for x in p]
        return obs


class UnreadResponseStalls(Fault):
    name = "unread-response-stalls"
    description = ("a response nobody listens for is never read, so its request never closes "
                   "(a runtime that waits for the body to be consumed instead of dumping it)")

    def __init__(self) -> None:
        self.unlistened: list[int] = []  # indexes of the request specs without a 'response' listener

    def on_scenario(self, scenario: Json) -> Json:
        client = scenario.get("client") or {}
        specs = [client, *(client.get("then") or [])]
        self.unlistened = [i for i, spec in enumerate(specs) if isinstance(spec, dict) and spec.get("listen_response") is False]
        return scenario

    def on_observations(self, obs: Json) -> Json:
        runs = [obs, *(obs.get("more") or [])]
        for i in self.unlistened:
            if i < len(runs):
                runs[i]["events"] = [e for e in runs[i].get("events") or []
                                     if (e.get("src"), e.get("name")) != ("req", "close")]
        return obs


class ServerCloseCutsActive(Fault):
    name = "server-close-cuts-active"
    description = ("a handler's server.close() / closeIdleConnections() also drops the connection "
                   "whose request is in flight: the client gets no response")

    def __init__(self) -> None:
        self.closes = False

    def on_scenario(self, scenario: Json) -> Json:
        ops = [op for server in scenario.get("servers") or [] for op in server.get("handler") or []]
        self.closes = any(isinstance(op, dict) and op.get("op") in ("server.close", "server.closeIdleConnections")
                          for op in ops)
        return scenario

    def on_wire(self, wire: WireRecord) -> WireRecord:
        if not self.closes:
            return wire
        wire = copy.deepcopy(wire)
        for reply in wire.get("responses") or []:
            reply["status"], reply["reason"], reply["headers"], reply["framing"] = None, None, [], None
            reply["body"], reply["body_chunks"], reply["closed"] = {"$bytes": ""}, [], True
            reply["error"] = "connection closed before a response"
        return wire


class ServerIgnoresClassOptions(Fault):
    name = "server-ignores-class-options"
    description = ("createServer's IncomingMessage and ServerResponse options are ignored: "
                   "req and res are always the built-in classes")

    def on_options(self, args: list[Any]) -> list[Any]:
        for opts in _options(args):
            opts.pop("IncomingMessage", None)
            opts.pop("ServerResponse", None)
        return args


class RejectionKeepsHeaders(Fault):
    name = "rejection-keeps-headers"
    description = ("a captured rejection of an async 'request' listener is answered 500, but with "
                   "the headers the listener had set still on it")

    def __init__(self) -> None:
        self.headers: list[list[str]] = []

    def on_scenario(self, scenario: Json) -> Json:
        self.headers = []
        for server in scenario.get("servers") or []:
            ops = server.get("handler") or [] if isinstance(server, dict) else []
            if ops and isinstance(ops[-1], dict) and ops[-1].get("op") == "reject":
                self.headers += [[op["args"][0], op["args"][1]] for op in ops
                                 if isinstance(op, dict) and op.get("op") == "res.setHeader"
                                 and len(op.get("args") or []) == 2
                                 and all(isinstance(a, str) for a in op["args"])]
        return scenario

    def on_wire(self, wire: WireRecord) -> WireRecord:
        if not self.headers:
            return wire
        wire = copy.deepcopy(wire)
        for reply in wire.get("responses") or []:
            if reply.get("status") == 500:
                reply["headers"] = [*(reply.get("headers") or []), *copy.deepcopy(self.headers)]
        return wire


FAULTS: dict[str, Callable[[], Fault]] = {
    cls.name: cls for cls in (
        DropUserHeaders, AlterHeaderValues, RecaseRequestHeaders, CorruptRequestBody, IgnoreMethod, IgnoreAuth, RewritePath,
        SwallowErrors, CorruptResponseBody, BufferResponse, ReorderEvents, MangleResponseHead,
        ServerWrongStatus, ServerDropHeaders, ServerCorruptBody, ServerRequestView,
        ServerFramingSwap, ServerNoDate, ServerConnectionClose, ServerAcceptsExpectations, BridgeIgnoresPort,
        LenientRequestParser,
        AgentIgnoresOptions,
        NumericReadsDrift,
        TimerOverflow,
        ReuseClosedSocket,
        UpgradeHeaderStripped,
        UnreadResponseStalls,
        ServerCloseCutsActive,
        ServerIgnoresClassOptions,
        RejectionKeepsHeaders,
    )
}


def apply(name: str, context: FaultContext) -> Fault:
    """The fault named `name` (KeyError for an unknown one, listing the known ones)."""
    try:
        return FAULTS[name]()
    except KeyError:
        raise KeyError(f"known faults: {', '.join(FAULTS)}") from None
