"""Server scenarios on the reference (startServers/finishServers of executor.mjs).

The target supplies `listen(server, port)`, which claims the port key in the reference's
port table and answers (host, port key); requests reach the servers through the bridge
(see front.py), not through sockets of their own.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from harness.observations import Json
from harness.reference.events import EventEmitter
from harness.targets.impl.fault_hooks import Fault, ops_for
from harness.targets.impl.ops import OpEnv, run_op
from harness.targets.impl.recorder import Recorder
from harness.targets.impl.tags import (
    DecodeContext,
    b64,
    decode,
    error_record,
    owned,
    plain,
    read_attr,
    release_context,
    snake,
    to_bytes,
)
from harness.targets.impl.tunnel import run_tunnel
from harness.vocabulary import describe as describe_problems
from harness.vocabulary import recorded_events, scenario_problems, timing

Listen = Callable[[Any, Any], Awaitable[tuple[str, int]]]


class HandlerThrow(Exception):
    """The error of a `throw` op (JS: a plain Error), raised out of the 'request' (or
    'upgrade' / 'connect') listener."""

    name = "Error"


class HandlerReject(Exception):
    """The error of a `reject` op (JS: a plain Error): what the async 'request' listener's
    awaitable fails with."""

    name = "Error"


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
    tasks: list[asyncio.Future[Any]] = field(default_factory=list)
    ctx: DecodeContext | None = None

    def fail(self, what: str, exc: BaseException) -> None:
        self.obs["status"] = "error"
        self.obs["detail"] = f"executor error{what}: {_describe(exc)}"


async def start_servers(http: ModuleType, scenario: Json, listen: Listen,
                        fault: Fault | None = None) -> ServerSession:
    """Create and start the scenario's servers; addresses[i] is None when servers[i] did not start."""
    ctx = DecodeContext(http)
    session = ServerSession(http, scenario, fault, ctx=ctx)
    specs = scenario.get("servers") or []
    try:
        session.rec = Recorder(scenario.get("timeout_ms"))
        ctx.rec = session.rec
        if scenario.get("kind") not in (None, "server"):
            raise ValueError(f"start_servers got a scenario of kind {scenario.get('kind')!r}")
        problems = scenario_problems(scenario)
        if problems:
            # Nothing starts: every address is None, so no request is sent.
            session.obs["status"], session.obs["detail"] = "error", describe_problems(problems)
            session.addresses = [None] * len(specs)
            return session
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
        # Only a missing `options` means {}: a falsy one ([], "", 0) is passed on as given.
        args = [decode(spec["options"] if "options" in spec else {}, session.ctx)]
        if session.fault is not None:
            args = session.fault.on_options(args)
        # capture_rejections: events.captureRejections is read when an emitter is made, so
        # it is on while this server is created and restored at once.
        capture, previous = spec.get("capture_rejections") is True, EventEmitter.capture_rejections
        try:
            if capture:
                EventEmitter.capture_rejections = True
            server = session.http.create_server(*args)
        finally:
            EventEmitter.capture_rejections = previous
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
    for name in recorded_events("server", "server"):
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
        def on_request(req: Any = None, res: Any = None, *_a: Any, _ops: list[Json] = ops,
                       _event: str = event) -> asyncio.Future[Any] | None:
            try:
                return _handle_request(session, index, _ops, req, res, _event)  # a future with `reject`
            except HandlerThrow:
                raise  # the scenario's own `throw` op: out of the listener
            except Exception as exc:  # noqa: BLE001
                session.fail(" in handler", exc)
            return None

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
                except HandlerThrow:
                    raise  # the scenario's own `throw` op: out of the listener
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
                    event: str = "request") -> asyncio.Future[Any] | None:
    """Run a handler's ops; with `reject` last, answer the listener's awaitable (it fails
    once the ops before it ran)."""
    rec = session.rec
    assert rec is not None
    if rec.frozen:
        return None  # the scenario is over; the server is closing
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

    throws = bool(ops) and isinstance(ops[0], dict) and ops[0].get("op") == "throw"
    reject = ops[-1] if ops and isinstance(ops[-1], dict) and ops[-1].get("op") == "reject" else None
    running: asyncio.Future[Any] | None = None
    if not throws:
        # The ops task is made before the listeners go on, so that its first step runs
        # before what they schedule (the body flowing): Node runs the ops synchronously.
        assert session.ctx is not None
        env = OpEnv(session.http, rec, session.ctx, session.obs, lambda call: _push(session, h, call),
                    {"req": req, "res": res, "server": session.servers[index]},
                    lambda receiver, method: (_server_callback(session, index, method) if receiver == "server"
                                              else _callback(method, ev)),
                    body_over=lambda: h.ended or h.req_gone, tasks=session.tasks, ev=ev)
        running = asyncio.ensure_future(_run_handler(session, h, ops[:-1] if reject else ops, env, reject))
        session.tasks.append(running)

    # The body is always collected, with this listener attached before the first op.
    req.on("data", on_data)
    for name in recorded_events("handler", "req"):
        req.on(name, lambda *_a, _n=name: on_req_event(_n))
    req.on("error", on_req_error)
    for name in recorded_events("handler", "res"):
        res.on(name, lambda *_a, _n=name: on_res_event(_n))
    res.on("error", lambda err=None, *_a: ev("res", "error", {"error": error_record(err)}))
    if throws:
        # A handler that throws: synchronously out of the 'request' listener, no other op runs.
        err = owned(HandlerThrow(str(ops[0].get("message", "handler threw"))), session.rec)
        _push(session, h, {"op": "throw", "returned": None, "threw": error_record(err)})
        h.ops_done = True
        raise err
    if reject is None or running is None:
        return None
    return asyncio.ensure_future(_rejecting(running))


async def _rejecting(running: asyncio.Future[Any]) -> None:
    """The async listener's awaitable: it fails with the `reject` op's error, if one was made."""
    rejection = await running
    if rejection is not None:
        raise rejection


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
    if ops and isinstance(ops[0], dict) and ops[0].get("op") == "throw":
        # A listener that throws: synchronously out of it, no other op runs. The socket is
        # then nobody's: the executor destroys it a turn later, so the client sees it close.
        err = owned(HandlerThrow(str(ops[0].get("message", f"{event} listener threw"))), rec)
        entry["calls"].append({"op": "throw", "returned": None, "threw": error_record(err)})
        tunnel.done = True
        rec.set_timer(socket.destroy, 0)
        raise err

    env = OpEnv(session.http, rec, ctx, session.obs, entry["calls"].append,
                {"socket": socket, "server": session.servers[index]},
                lambda _receiver, method: _server_callback(session, index, method), tasks=session.tasks)

    def over(_task: Any) -> None:
        tunnel.done = True
        rec.poke()

    task = asyncio.ensure_future(run_tunnel(ops, socket, entry, entry["events"], env))
    task.add_done_callback(over)
    session.tasks.append(task)


def read_tail(session: ServerSession, h: Handler) -> None:
    if session.rec is None or session.rec.frozen:
        return
    h.entry["trailers"] = read_attr(h.req, "trailers")
    h.entry["complete"] = read_attr(h.req, "complete")
    h.entry["body"] = {"$bytes": b64(b"".join(h.parts))}


async def _run_handler(session: ServerSession, h: Handler, ops: list[Json], env: OpEnv,
                       reject: Json | None = None) -> HandlerReject | None:
    """The handler's ops in order; with a `reject` op, the error it makes (recorded)."""
    rec = session.rec
    assert rec is not None
    rejection: HandlerReject | None = None
    try:
        for op in (expanded for given_op in ops for expanded in ops_for(session.fault, given_op)):
            if rec.timed_out or rec.frozen:
                break
            await run_op(op, env)
        if reject is not None and not (rec.timed_out or rec.frozen):
            rejection = owned(HandlerReject(str(reject.get("message", "handler rejected"))), rec)
            _push(session, h, {"op": "reject", "returned": None, "threw": error_record(rejection)})
    except Exception as exc:  # noqa: BLE001
        session.fail(" in handler ops", exc)
    finally:
        h.ops_done = True
        read_tail(session, h)
        rec.poke()
    return rejection


def _push(session: ServerSession, h: Handler, call: Json) -> None:
    if session.rec is not None and not session.rec.frozen:
        h.entry["calls"].append(call)


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

    env = OpEnv(session.http, rec, ctx, session.obs, push, {"socket": socket, "server": session.servers[index]},
                lambda _receiver, method: _server_callback(session, index, method), tasks=session.tasks)
    try:
        for op in ops:
            if rec.timed_out or rec.frozen:
                break
            await run_op(op, env)
    except Exception as exc:  # noqa: BLE001
        session.fail(" in clientError ops", exc)
    finally:
        run.done = True
        rec.poke()


def _server_callback(session: ServerSession, index: int, method: str) -> Callable[..., None]:
    """A callback recorded as the server event "<method>_cb" (server.close's)."""
    rec = session.rec
    assert rec is not None
    srec = session.obs["servers"][index]

    def cb(err: Any = None, *_a: Any) -> None:
        rec.event(srec["events"], {"name": f"{method}_cb", "t": rec.t(), **({"error": error_record(err)} if err else {})})
    return cb


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
        await asyncio.wait_for(asyncio.gather(*closing), timing("close_wait_ms") / 1000) if closing else None
    except TimeoutError:
        pass  # a server that does not close in time is still released below
    except Exception as exc:  # noqa: BLE001
        session.fail("", exc)
    finally:
        await asyncio.sleep(timing("settle_ms") / 1000)
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
