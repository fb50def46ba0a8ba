"""Server scenarios on the reference (startServers/finishServers of executor.mjs).

The target supplies `listen(server, port)`, which claims the port key in the reference's
port table and answers (host, port key); requests reach the servers through the bridge
(see front.py), not through sockets of their own.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from harness.observations import Json
from harness.targets.impl.fault_hooks import Fault, ops_for
from harness.targets.impl.recorder import Recorder
from harness.targets.impl.server_lifecycle import (
    HANDLER_SOCKET_METHODS,
    LIFECYCLE_OPS,
    lifecycle_op,
)
from harness.targets.impl.shared import shared_op
from harness.targets.impl.tags import (
    DecodeContext,
    b64,
    decode,
    encode,
    encode_return,
    error_record,
    plain,
    read_attr,
    release_context,
    snake,
    to_bytes,
)
from harness.targets.impl.tunnel import run_tunnel

Listen = Callable[[Any, Any], Awaitable[tuple[str, int]]]


class HandlerThrow(Exception):
    """The error of a handler's `throw` op (JS: a plain Error), raised out of the listener."""

    name = "Error"

CLOSE_WAIT_MS = 1000  # how long finish_servers waits for server.close()
SETTLE_MS = 1  # so that trailing 'close' events are recorded

SERVER_RES_OPS = frozenset({
    "setHeader", "getHeader", "getHeaders", "getHeaderNames", "hasHeader", "removeHeader",
    "appendHeader", "setHeaders", "writeHead", "write", "end", "flushHeaders", "addTrailers",
    "writeContinue", "writeProcessing", "writeEarlyHints", "destroy",
    "cork", "uncork", "setTimeout", "pipe",
})  # fmt: skip
# server.<method> ops (besides server.get/set) and socket.<method> ops of 'clientError'.
SERVER_OPS = frozenset({"close", "closeIdleConnections", "closeAllConnections", "setTimeout", "asyncDispose"})
# req.<method> ops of a handler (besides req.get and req.read_body).
SERVER_REQ_OPS = frozenset({"setTimeout", "destroy"})
SOCKET_OPS = frozenset({"write", "end", "destroy"})
SERVER_CB_OPS = frozenset({"write", "end", "writeEarlyHints"})
SERVER_EVENTS = ("listening", "connection", "close", "dropRequest")
SERVER_REQ_EVENTS = ("end", "aborted", "close")
SERVER_RES_EVENTS = ("finish", "close", "drain")
UNDEF = {"$undefined": True}


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc, limit=8)).strip()


@dataclass
class Handler:
    """One request the servers saw: its observation entry and progress."""

    entry: Json
    req: Any
    res: Any
    server_index: int = 0
    parts: list[bytes] = field(default_factory=list)
    ended: bool = False
    req_gone: bool = False
    res_closed: bool = False
    ops_done: bool = False

    def done(self) -> bool:
        return self.ops_done and self.res_closed


@dataclass
class ClientErrorRun:
    """The ops run for one 'clientError'."""

    done: bool = False


@dataclass
class Tunnel:
    """The ops run for one 'upgrade' or 'connect', and its socket."""

    socket: Any
    done: bool = False


@dataclass
class ServerSession:
    """What start_servers made; finish_servers consumes it. servers[i] is None if createServer threw."""

    http: ModuleType
    scenario: Json
    fault: Fault | None
    obs: Json = field(default_factory=lambda: {"status": "ok", "detail": "", "servers": [], "requests": []})
    rec: Recorder | None = None
    addresses: list[tuple[str, int] | None] = field(default_factory=list)
    servers: list[Any] = field(default_factory=list)
    handlers: list[Handler] = field(default_factory=list)
    client_errors: list[ClientErrorRun] = field(default_factory=list)
    tunnels: list[Tunnel] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    ctx: DecodeContext | None = None

    def fail(self, what: str, exc: BaseException) -> None:
        self.obs["status"] = "error"
        self.obs["detail"] = f"executor error{what}: {_describe(exc)}"


async def start_servers(http: ModuleType, scenario: Json, listen: Listen,
                        fault: Fault | None = None) -> ServerSession:
    """Create and start the scenario's servers; addresses[i] is None when servers[i] did not start."""
    session = ServerSession(http, scenario, fault, ctx=DecodeContext(http))
    specs = scenario.get("servers") or []
    try:
        session.rec = Recorder(scenario.get("timeout_ms"))
        if scenario.get("kind") not in (None, "server"):
            raise ValueError(f"start_servers got a scenario of kind {scenario.get('kind')!r}")
        for i, spec in enumerate(specs):
            session.addresses.append(await _start_one(session, spec or {}, i, listen))
    except Exception as exc:  # noqa: BLE001 - reported as status error
        session.fail("", exc)
        session.addresses += [None] * (len(specs) - len(session.addresses))
    return session


async def _start_one(session: ServerSession, spec: Json, index: int, listen: Listen) -> tuple[str, int] | None:
    rec = session.rec
    assert rec is not None and session.ctx is not None
    srec: Json = {"port": None, "address": None, "listen_error": None, "events": []}
    session.obs["servers"].append(srec)
    try:
        args = [decode(spec.get("options") or {}, session.ctx)]
        if session.fault is not None:
            args = session.fault.on_options(args)
        server = session.http.create_server(*args)
    except Exception as exc:  # noqa: BLE001 - createServer threw: that is the observation
        srec["listen_error"] = error_record(exc)
        session.servers.append(None)
        return None
    session.servers.append(server)
    # `set`: properties assigned before listen (maxRequestsPerSocket has no option form).
    for prop, value in (spec.get("set") or {}).items():
        try:
            setattr(server, snake(str(prop)), decode(value, session.ctx))
        except Exception as exc:  # noqa: BLE001 - reported as status error
            session.fail(f" setting server.{prop}", exc)
    for name in SERVER_EVENTS:
        server.on(name, lambda *_a, _n=name: rec.event(srec["events"], {"name": _n, "t": rec.t()}))
    server.on("error", lambda err=None, *_a: rec.event(
        srec["events"], {"name": "error", "t": rec.t(), "error": error_record(err)}))

    # 'request', and the optional listeners whose presence changes what Node does (the
    # reference may never emit them: then nothing runs, as on any runtime without them).
    listeners: list[tuple[str, list[Json]]] = [("request", spec.get("handler") or [])]
    for key, event in (("on_check_continue", "checkContinue"), ("on_check_expectation", "checkExpectation")):
        if isinstance(spec.get(key), list):
            listeners.append((event, spec[key]))
    for event, ops in listeners:
        def on_request(req: Any = None, res: Any = None, *_a: Any, _ops: list[Json] = ops, _event: str = event) -> None:
            try:
                _handle_request(session, index, _ops, req, res, _event)
            except HandlerThrow:
                raise  # the scenario's own `throw` op: out of the listener
            except Exception as exc:  # noqa: BLE001
                session.fail(" in handler", exc)

        server.on(event, on_request)
    if isinstance(spec.get("on_client_error"), list):
        def on_client_error(err: Any = None, socket: Any = None, *_a: Any) -> None:
            try:
                _handle_client_error(session, index, srec, spec["on_client_error"], err, socket)
            except Exception as exc:  # noqa: BLE001
                session.fail(" in clientError", exc)

        server.on("clientError", on_client_error)
    # 'upgrade' / 'connect' listeners: present only when asked for, since Node routes an
    # Upgrade request to 'request' when nobody listens for 'upgrade'.
    for key, event in (("on_upgrade", "upgrade"), ("on_connect", "connect")):
        if isinstance(spec.get(key), list):
            def on_tunnel(req: Any = None, socket: Any = None, head: Any = None, *_a: Any,
                          _ops: list[Json] = spec[key], _event: str = event) -> None:
                try:
                    _handle_tunnel_request(session, index, _ops, req, socket, head, _event)
                except Exception as exc:  # noqa: BLE001
                    session.fail(f" in {_event}", exc)

            server.on(event, on_tunnel)
    try:
        host, port = await listen(server, spec.get("listen", 0))
    except Exception as exc:  # noqa: BLE001 - a failed listen is an observation
        srec["listen_error"] = error_record(exc)
        return None
    srec["port"] = port
    try:
        srec["address"] = plain(server.address())
    except Exception:  # noqa: BLE001 - readProp: a throwing address() reads as null
        srec["address"] = None
    return host, port


def _handle_request(session: ServerSession, index: int, ops: list[Json], req: Any, res: Any,
                    event: str = "request") -> None:
    rec = session.rec
    assert rec is not None
    if rec.frozen:
        return  # the scenario is over; the server is closing
    entry: Json = {
        "server": index,
        "event": event,
        **{name: read_attr(req, name) for name in (
            "method", "url", "httpVersion", "headers", "rawHeaders", "headersDistinct", "trailers", "complete")},
        "body": {"$bytes": ""}, "chunks": [], "calls": [], "events": [],
    }
    session.obs["requests"].append(entry)
    h = Handler(entry, req, res, index)
    session.handlers.append(h)

    def ev(src: str, name: str, extra: Json | None = None) -> None:
        rec.event(entry["events"], {"src": src, "name": name, "t": rec.t(), **(extra or {})})

    def on_data(chunk: Any = None, *_a: Any) -> None:
        if rec.frozen:
            return
        data = to_bytes(chunk)
        if session.fault is not None:
            data = session.fault.on_chunk(data)
        h.parts.append(data)
        entry["chunks"].append({"t": rec.t(), "len": len(data)})
        ev("req", "data", {"len": len(data)})

    def on_req_event(name: str) -> None:
        # State first: ev() pokes the waiters, and req.read_body waits on this state.
        if name == "end":
            h.ended = True
        if name in ("close", "aborted"):
            h.req_gone = True
        ev("req", name)
        if name in ("end", "close"):
            read_tail(session, h)

    def on_req_error(err: Any = None, *_a: Any) -> None:
        h.req_gone = True
        ev("req", "error", {"error": error_record(err)})

    def on_res_event(name: str) -> None:
        if name == "close":
            h.res_closed = True
        ev("res", name)

    # The body is always collected, with this listener attached before the first op.
    req.on("data", on_data)
    for name in SERVER_REQ_EVENTS:
        req.on(name, lambda *_a, _n=name: on_req_event(_n))
    req.on("error", on_req_error)
    for name in SERVER_RES_EVENTS:
        res.on(name, lambda *_a, _n=name: on_res_event(_n))
    res.on("error", lambda err=None, *_a: ev("res", "error", {"error": error_record(err)}))
    if ops and isinstance(ops[0], dict) and ops[0].get("op") == "throw":
        # A handler that throws: synchronously out of the 'request' listener, no other op runs.
        err = HandlerThrow(str(ops[0].get("message", "handler threw")))
        _push(session, h, {"op": "throw", "returned": None, "threw": error_record(err)})
        h.ops_done = True
        raise err
    session.tasks.append(asyncio.ensure_future(_run_handler(session, h, ops, ev)))


def _handle_tunnel_request(session: ServerSession, index: int, ops: list[Json], req: Any, socket: Any,
                           head: Any, event: str) -> None:
    """An 'upgrade' or 'connect' (req, socket, head): an entry in `requests` with `event`,
    the request's head fields, `head` (the bytes after it) and the tunnel (run_tunnel)."""
    rec, ctx = session.rec, session.ctx
    assert rec is not None and ctx is not None
    if rec.frozen:
        return
    entry: Json = {
        "server": index,
        "event": event,
        **{name: read_attr(req, name) for name in (
            "method", "url", "httpVersion", "headers", "rawHeaders", "headersDistinct")},
        "head": plain(to_bytes(head or b"")), "calls": [], "events": [],
    }
    session.obs["requests"].append(entry)
    tunnel = Tunnel(socket)
    session.tunnels.append(tunnel)

    def other(op: Json, push: Callable[[Json], None]) -> bool:
        return _server_level_op(session, index, op, push)

    def over(_task: Any) -> None:
        tunnel.done = True
        rec.poke()

    task = asyncio.ensure_future(run_tunnel(ops, socket, entry, entry["events"], ctx, rec, session.obs, other))
    task.add_done_callback(over)
    session.tasks.append(task)


def read_tail(session: ServerSession, h: Handler) -> None:
    if session.rec is None or session.rec.frozen:
        return
    h.entry["trailers"] = read_attr(h.req, "trailers")
    h.entry["complete"] = read_attr(h.req, "complete")
    h.entry["body"] = {"$bytes": b64(b"".join(h.parts))}


async def _run_handler(session: ServerSession, h: Handler, ops: list[Json], ev: Callable[..., None]) -> None:
    rec = session.rec
    assert rec is not None
    try:
        for op in (expanded for given_op in ops for expanded in ops_for(session.fault, given_op)):
            if rec.timed_out or rec.frozen:
                break
            await _server_op(session, h, op, ev)
    except Exception as exc:  # noqa: BLE001
        session.fail(" in handler ops", exc)
    finally:
        h.ops_done = True
        read_tail(session, h)
        rec.poke()


def _push(session: ServerSession, h: Handler, call: Json) -> None:
    if session.rec is not None and not session.rec.frozen:
        h.entry["calls"].append(call)


async def _server_op(session: ServerSession, h: Handler, op: Json, ev: Callable[..., None]) -> None:
    rec, ctx, res = session.rec, session.ctx, h.res
    assert rec is not None and ctx is not None
    name = op.get("op") if isinstance(op, dict) else None
    if name == "wait":
        await rec.sleep(op.get("ms"))
        _push(session, h, {"op": name, "returned": UNDEF, "threw": None})
        return
    if name == "req.read_body":
        # 'end' is the signal; 'close', 'aborted' or 'error' mean the body will never end.
        r = await rec.until_or_deadline(lambda: h.ended or h.req_gone)
        _push(session, h, {"op": name, "returned": UNDEF, "threw": None if r == "done" else {
            "name": "HarnessTimeout", "code": None, "message": "the request body did not end"}})
        return
    if name == "res.set":
        try:
            setattr(res, snake(str(op.get("prop"))), decode(op.get("value"), ctx))
            _push(session, h, {"op": name, "returned": UNDEF, "threw": None})
        except Exception as exc:  # noqa: BLE001
            _push(session, h, {"op": name, "returned": None, "threw": error_record(exc)})
        return
    if name == "res.get":
        try:
            value = getattr(res, snake(str(op.get("prop"))))
            _push(session, h, {"op": name, "returned": encode(value, res), "threw": None})
        except AttributeError:
            _push(session, h, {"op": name, "returned": UNDEF, "threw": None})  # res[P] is undefined
        except Exception as exc:  # noqa: BLE001
            _push(session, h, {"op": name, "returned": None, "threw": error_record(exc)})
        return
    if name in LIFECYCLE_OPS:
        if name == "socket.call" and op.get("method") not in HANDLER_SOCKET_METHODS:
            _unknown_op(session, lambda call: _push(session, h, call), "socket.call", op.get("method"))
        else:
            _push(session, h, lifecycle_op(op, h.req, res, ctx, ev))
        return
    req_method = name[4:] if isinstance(name, str) and name.startswith("req.") else None
    if req_method == "get" or req_method in SERVER_REQ_OPS:
        # Reads and calls on the IncomingMessage (SCENARIO.md "Request reads and calls in a handler").
        _push(session, h, _req_op(h.req, req_method, op, ctx, str(name), session.http))
        return
    if _server_level_op(session, h.server_index, op, lambda call: _push(session, h, call)):
        return
    method = name[4:] if isinstance(name, str) and name.startswith("res.") else None
    if method not in SERVER_RES_OPS:
        _unknown_op(session, lambda call: _push(session, h, call), "server handler", name)
        return
    try:
        args = decode(op.get("args") or [], ctx)
        if method == "destroy" and args and isinstance(args[0], str):
            args[0] = session.http.NodeError(args[0])  # new Error(arg)
        if method in SERVER_CB_OPS:
            args = [*args, _callback(method, ev)]
        returned = getattr(res, snake(method))(*args)
        _push(session, h, {"op": name, "returned": encode_return(returned, res), "threw": None})
    except Exception as exc:  # noqa: BLE001 - a throwing op is recorded, the rest still run
        _push(session, h, {"op": name, "returned": None, "threw": error_record(exc)})


def _req_op(req: Any, method: str, op: Json, ctx: DecodeContext, name: str, http: ModuleType) -> Json:
    """req.get (a missing attribute reads as undefined) or a req.<method> call, as a call record."""
    try:
        if method == "get":
            attr = snake(str(op.get("prop")))
            return {"op": name, "returned": encode(getattr(req, attr), req) if hasattr(req, attr) else UNDEF,
                    "threw": None}
        args = decode(op.get("args") or [], ctx)
        if method == "destroy" and args and isinstance(args[0], str):
            args[0] = http.NodeError(args[0])  # new Error(arg)
        returned = getattr(req, snake(method))(*args)
        return {"op": name, "returned": encode_return(returned, req), "threw": None}
    except Exception as exc:  # noqa: BLE001 - a throwing op is recorded, the rest still run
        return {"op": name, "returned": None, "threw": error_record(exc)}


def _unknown_op(session: ServerSession, push: Callable[[Json], None], kind: str, name: Any) -> None:
    message = f"unknown {kind} op {name!r}"
    session.obs["status"], session.obs["detail"] = "error", message
    push({"op": name, "returned": None, "threw": {
        "name": "HarnessError", "code": "ERR_HARNESS_UNKNOWN_OP", "message": message}})


def _server_level_op(session: ServerSession, index: int, op: Json, push: Callable[[Json], None]) -> bool:
    """Ops on the server itself (server.close with its callback recorded as the server
    event 'close_cb', server.closeIdleConnections, server.closeAllConnections, server.get)
    and the shared reads (agent.get, agent.call, module.get); True when `op` was one."""
    rec, ctx = session.rec, session.ctx
    assert rec is not None and ctx is not None
    if shared_op(session.http, op, ctx, push, session.obs):
        return True
    name = op.get("op")
    if not isinstance(name, str) or not name.startswith("server."):
        return False
    server = session.servers[index]
    srec = session.obs["servers"][index]
    method = name[7:]
    if method not in ("get", "set") and method not in SERVER_OPS:
        _unknown_op(session, push, "server", name)
        return True
    if method == "set":
        try:
            setattr(server, snake(str(op.get("prop"))), decode(op.get("value"), ctx))
            push({"op": name, "returned": UNDEF, "threw": None})
        except Exception as exc:  # noqa: BLE001
            push({"op": name, "returned": None, "threw": error_record(exc)})
        return True
    if method == "get":
        try:
            push({"op": name, "returned": encode(getattr(server, snake(str(op.get("prop")))), server), "threw": None})
        except AttributeError:
            push({"op": name, "returned": UNDEF, "threw": None})  # server[P] is undefined
        except Exception as exc:  # noqa: BLE001
            push({"op": name, "returned": None, "threw": error_record(exc)})
        return True
    try:
        args = decode(op.get("args") or [], ctx)
        if method == "close":
            def close_cb(err: Any = None, *_a: Any) -> None:
                rec.event(srec["events"], {"name": "close_cb", "t": rec.t(),
                                           **({"error": error_record(err)} if err else {})})
            args = [*args, close_cb]
        returned = getattr(server, snake(method))(*args)
        if method == "asyncDispose" and inspect.isawaitable(returned):
            session.tasks.append(asyncio.ensure_future(_record_dispose(rec, srec, returned)))
            returned = {}  # what a Promise encodes as
        push({"op": name, "returned": encode_return(returned, server), "threw": None})
    except Exception as exc:  # noqa: BLE001
        push({"op": name, "returned": None, "threw": error_record(exc)})
    return True


async def _record_dispose(rec: Recorder, srec: Json, pending: Awaitable[Any]) -> None:
    """server[Symbol.asyncDispose]()'s settlement as the server event 'dispose_cb'."""
    try:
        await pending
        rec.event(srec["events"], {"name": "dispose_cb", "t": rec.t()})
    except Exception as exc:  # noqa: BLE001 - a rejection is data
        rec.event(srec["events"], {"name": "dispose_cb", "t": rec.t(), "error": error_record(exc)})


def _handle_client_error(session: ServerSession, index: int, srec: Json, ops: list[Json], err: Any,
                         socket: Any) -> None:
    """A 'clientError' (err, socket): the server event {name: 'clientError', error, calls};
    its ops run in order and their results go to that event's `calls`."""
    rec = session.rec
    assert rec is not None
    if rec.frozen:
        return
    record: Json = {"name": "clientError", "t": rec.t(), "error": error_record(err), "calls": []}
    rec.event(srec["events"], record)
    run = ClientErrorRun()
    session.client_errors.append(run)
    session.tasks.append(asyncio.ensure_future(_run_client_error(session, index, record, ops, socket, run)))


async def _run_client_error(session: ServerSession, index: int, record: Json, ops: list[Json], socket: Any,
                            run: ClientErrorRun) -> None:
    rec, ctx = session.rec, session.ctx
    assert rec is not None and ctx is not None

    def push(call: Json) -> None:
        if not rec.frozen:
            record["calls"].append(call)

    try:
        for op in ops:
            if rec.timed_out or rec.frozen:
                break
            name = op.get("op") if isinstance(op, dict) else None
            if name == "wait":
                await rec.sleep(op.get("ms"))
                push({"op": name, "returned": UNDEF, "threw": None})
                continue
            if isinstance(op, dict) and _server_level_op(session, index, op, push):
                continue
            method = name[7:] if isinstance(name, str) and name.startswith("socket.") else None
            if method not in SOCKET_OPS:
                _unknown_op(session, push, "clientError", name)
                continue
            try:
                args = decode(op.get("args") or [], ctx)
                if method == "destroy" and args and isinstance(args[0], str):
                    args[0] = session.http.NodeError(args[0])
                returned = getattr(socket, snake(method))(*args)
                push({"op": name, "returned": encode_return(returned, socket), "threw": None})
            except Exception as exc:  # noqa: BLE001
                push({"op": name, "returned": None, "threw": error_record(exc)})
    except Exception as exc:  # noqa: BLE001
        session.fail(" in clientError ops", exc)
    finally:
        run.done = True
        rec.poke()


def _callback(method: str, ev: Callable[..., None]) -> Callable[..., None]:
    def cb(err: Any = None, *_a: Any) -> None:
        ev("res", f"{method}_cb", {"error": error_record(err)} if err else None)
    return cb


async def finish_servers(session: ServerSession) -> Json:
    """Wait for every handler (or the deadline), close the servers; server observations without "wire"."""
    obs, rec = session.obs, session.rec
    if rec is None:
        return obs
    try:
        outcome = await rec.until_or_deadline(lambda: all(h.done() for h in session.handlers)
                                              and all(run.done for run in session.client_errors)
                                              and all(t.done for t in session.tunnels))
        if outcome == "timeout":
            if obs["status"] == "ok":
                obs["status"] = "timeout"
                pending = [f"request {i} ({'res close missing' if h.ops_done else 'ops still running'})"
                           for i, h in enumerate(session.handlers) if not h.done()]
                if not all(run.done for run in session.client_errors):
                    pending.append("clientError ops still running")
                if not all(t.done for t in session.tunnels):
                    pending.append("an upgrade/connect socket still open")
                obs["detail"] = f"scenario did not finish within {rec.timeout_ms} ms" + (
                    f": {'; '.join(pending)}" if pending else "")
            for h in session.handlers:
                read_tail(session, h)
            rec.frozen = True
        closing = [_close(server) for server in session.servers if server is not None]
        await asyncio.wait_for(asyncio.gather(*closing), CLOSE_WAIT_MS / 1000) if closing else None
    except TimeoutError:
        pass  # a server that does not close in time is still released below
    except Exception as exc:  # noqa: BLE001
        session.fail("", exc)
    finally:
        await asyncio.sleep(SETTLE_MS / 1000)
        _release(session)
    return session.fault.on_observations(obs) if session.fault is not None else obs


async def _close(server: Any) -> None:
    if not getattr(server, "listening", False):
        return
    done = asyncio.get_running_loop().create_future()
    try:
        server.close(lambda *_a: None if done.done() else done.set_result(None))
        closer = getattr(server, "close_all_connections", None)
        if closer is not None:
            closer()
    except Exception:  # noqa: BLE001 - e.g. ERR_SERVER_NOT_RUNNING: nothing to wait for
        return
    await done


def _release(session: ServerSession) -> None:
    rec = session.rec
    assert rec is not None
    rec.close()
    for task in session.tasks:
        task.cancel()
    if session.ctx:
        release_context(session.ctx)
    for h in session.handlers:
        try:
            if not h.res_closed and not getattr(h.res, "destroyed", False):
                h.res.destroy()
        except Exception:  # noqa: BLE001, S110 - best effort
            pass
    for t in session.tunnels:
        try:
            if not getattr(t.socket, "destroyed", False):
                t.socket.destroy()
        except Exception:  # noqa: BLE001, S110 - best effort
            pass
    if rec.uncaught:
        text = "; ".join(f"{u['name']} at {u['t']} ms: {u['error']['name']}: {u['error']['message']}" for u in rec.uncaught)
        session.obs["detail"] = f"{session.obs['detail']}; {text}" if session.obs["detail"] else text
