"""The impl target's scenario executor: harness/SCENARIO.md run on the Python reference.

A line-by-line sibling of harness/drivers/executor.mjs (client side here, server side
in server.py, the ops in ops.py): same ops, same events in the same order of listeners,
same observation shape, the names and timing constants of harness/drivers/vocabulary.json. Node's camelCase names map to the reference's snake_case ones.
Everything runs on the target's asyncio loop; no exception escapes: reference errors
are data, executor bugs become {"status": "error"}.
"""

from __future__ import annotations

import asyncio
import functools
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeGuard

from harness.observations import Json
from harness.reference.process import process
from harness.targets.impl.fault_hooks import Fault, ops_for
from harness.targets.impl.ops import OpEnv, report_error, run_op
from harness.targets.impl.recorder import Recorder
from harness.targets.impl.server import finish_servers, start_servers
from harness.targets.impl.tags import (
    DecodeContext,
    b64,
    chunk_type,
    decode,
    error_record,
    plain,
    read_attr,
    release_context,
    scenario_error,
    snake,
    to_bytes,
)
from harness.targets.impl.tunnel import run_tunnel
from harness.vocabulary import describe as describe_problems
from harness.vocabulary import load as vocabulary
from harness.vocabulary import recorded_events, scenario_problems, timing

__all__ = ["empty_client_observations", "empty_request_observations", "finish_servers", "run_client",
           "start_servers"]


def empty_request_observations() -> Json:
    return {"threw": None, "calls": [], "events": [], "response": None, "body": {"$bytes": ""},
            "chunks": [], "props": {}}


def empty_client_observations() -> Json:
    return {"status": "ok", "detail": "", **empty_request_observations(), "more": [], "agents": {}}


def describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc, limit=8)).strip()


@dataclass
class ClientState:
    req: Any = None
    res: Any = None
    started: bool = False
    req_closed: bool = False
    res_closed: bool = False
    res_ended: bool = False
    end_grace_over: bool = False
    upgrade_done: bool = False
    tunneling: bool = False  # a tunnel (client.on_upgrade) outlives req 'close'
    destroyed_res: bool = False
    aborted_req: bool = False
    parts: list[bytes] = field(default_factory=list)
    nbytes: int = 0
    tasks: list[asyncio.Future[Any]] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)

    def finished(self) -> bool:
        return self.upgrade_done or (not self.tunneling and self.req_closed and (
            self.res is None or self.res_closed or self.end_grace_over))


# Client props read by code of their own (vocabulary client_props without `read`);
# res.isPaused_after_pause is recorded when the response is paused, and res.destroyed at
# res 'end' and 'close' (DESTROYED_AT) when they fire.
PROPS_BY_NAME = {
    "res.req_is_req": lambda st: None if st.res is None else getattr(st.res, "req", None) is st.req,
}
DESTROYED_AT = {"end": "res.destroyed_at_end", "close": "res.destroyed_at_close"}


def _prop(st: ClientState, key: str, entry: dict[str, str]) -> Any:
    """A client prop: its vocabulary `read` path (req.socket.encrypted) from the reference's
    snake_case attributes, null where a step is missing."""
    if "read" not in entry:
        return PROPS_BY_NAME[key](st)
    root, *steps = entry["read"].split(".")
    obj = st.req if root == "req" else st.res
    for step in steps[:-1]:
        obj = getattr(obj, snake(step), None) if obj is not None else None
    return read_attr(obj, steps[-1])


def head_snapshot(res: Any) -> Json:
    names = ("statusCode", "statusMessage", "httpVersion", "httpVersionMajor",
             "httpVersionMinor", "headers", "rawHeaders")
    return {name: read_attr(res, name) for name in names}


async def run_client(http: ModuleType, scenario: Json, fault: Fault | None = None,
                     obs: Json | None = None) -> Json:
    """Run a client scenario; returns client observations (without "wire").

    `obs` may be passed in so that a caller whose wait timed out can still read what was
    observed so far.
    """
    obs = obs if obs is not None else empty_client_observations()
    rec: Recorder | None = None
    unwatch: Callable[[], Any] | None = None
    try:
        rec = Recorder(scenario.get("timeout_ms") if isinstance(scenario, dict) else None)
        unwatch = watch_warnings(scenario, obs, rec)
        await ClientRun(http, scenario, obs, rec, fault).run()
    except Exception as exc:  # noqa: BLE001 - an executor bug is an observation, not a crash
        obs["status"] = "error"
        obs["detail"] = f"executor error: {describe(exc)}"
    finally:
        if unwatch is not None:
            unwatch()
        if rec is not None:
            rec.close()
            obs["events"].extend(rec.uncaught)
    return fault.on_observations(obs) if fault is not None else obs


# record_perf_http (on `client` and on `servers[i]`): the JavaScript executor records each
# PerformanceObserver entry of type 'http' as the event "HttpClient" / "HttpRequest" (or
# "observe_threw" when it cannot observe). The reference is node:http only: it has no
# perf_hooks and makes no such entries, so impl records nothing for it.


def watch_warnings(scenario: Json, obs: Json, rec: Recorder) -> Callable[[], Any] | None:
    """client.record_warnings: the reference's process 'warning' events during the scenario
    become {"src": "process", "name": "warning", "t", "warning": {name, code, message}}."""
    c = scenario.get("client") if isinstance(scenario, dict) else None
    if not isinstance(c, dict) or c.get("record_warnings") is not True:
        return None

    def on_warning(warning: Any) -> None:
        rec.event(obs["events"], {"src": "process", "name": "warning", "t": rec.t(), "warning": error_record(warning)})

    process.on("warning", on_warning)
    return lambda: process.off("warning", on_warning)


class ClientRun:
    """One client scenario: clientBody() of executor.mjs. Its first request is `client`
    itself, `client.then` lists the further ones (observations in obs["more"][i])."""

    def __init__(self, http: ModuleType, scenario: Json, obs: Json, rec: Recorder,
                 fault: Fault | None) -> None:
        self.http = http
        self.scenario = scenario
        self.c: Json = scenario.get("client") or {}
        self.obs = obs
        self.rec = rec
        self.fault = fault
        self.ctx = DecodeContext(http, rec=rec, on_agent=self._watch_agent)
        self.runs: list[RequestRun] = []

    def _watch_agent(self, agent_id: str, agent: Any) -> None:
        entry: Json = {"events": []}
        self.obs["agents"][agent_id] = entry
        rec = self.rec
        try:
            agent.on("free", lambda *_a: rec.event(entry["events"], {"name": "free", "t": rec.t()}))
        except Exception as exc:  # noqa: BLE001 - an agent without on() is recorded, not fatal
            rec.event(entry["events"], {"name": "on_threw", "t": rec.t(), "error": error_record(exc)})

    def _start_unless_timed_out(self, run: RequestRun) -> None:
        if not self.rec.timed_out:
            run.start()

    async def run(self) -> None:
        obs, rec, c = self.obs, self.rec, self.c
        kind = self.scenario.get("kind")
        if kind is not None and kind != "client":
            obs["status"], obs["detail"] = "error", f"run_client got a scenario of kind {kind!r}"
            return
        problems = scenario_problems(self.scenario)
        if problems:
            report_error(obs, describe_problems(problems))
            return
        then = c.get("then")
        further: list[Any] = then if isinstance(then, list) else []
        obs["more"].extend(empty_request_observations() for _ in further)
        specs = [c, *further]
        self.runs = [RequestRun(self, spec if isinstance(spec, dict) else {}, obs if i == 0 else obs["more"][i - 1], i)
                     for i, spec in enumerate(specs)]

        async def drive() -> None:
            if c.get("parallel"):
                # A request with start_after_ms is created that long after the others started.
                for run in self.runs:
                    after = run.c.get("start_after_ms") or 0
                    if isinstance(after, (int, float)) and after > 0:
                        rec.set_timer(functools.partial(self._start_unless_timed_out, run), after)
                    else:
                        run.start()
                await asyncio.gather(*(run.done for run in self.runs))
                return
            for run in self.runs:
                if rec.timed_out:
                    break
                run.start()
                await run.done

        driving: asyncio.Future[Any] = asyncio.ensure_future(drive())
        deadline: asyncio.Future[Any] = rec.deadline
        await asyncio.wait([driving, deadline], return_when=asyncio.FIRST_COMPLETED)
        if driving.done():
            driving.result()  # an executor bug in the ops surfaces here
        else:
            driving.cancel()
            if obs["status"] == "ok":
                obs["status"] = "timeout"
                obs["detail"] = f"scenario did not finish within {rec.timeout_ms} ms" + self._timeout_detail()
        for run in self.runs:
            run.fill_props()
        rec.frozen = True
        for run in self.runs:
            run.fill_body()
        for run in self.runs:
            run.release()
        release_context(self.ctx)

    def _timeout_detail(self) -> str:
        if len(self.runs) == 1:
            waiting = self.runs[0].waiting()
            return f" (waiting for {waiting})" if waiting else " (ops still running)"
        parts = [f"request {i}: {w or 'ops still running'}" for i, run in enumerate(self.runs)
                 if (w := run.waiting()) is not None]
        return f" ({'; '.join(parts)})" if parts else " (ops still running)"


class RequestRun:
    """One request of a client scenario (clientRun() of executor.mjs): `obs` is where its
    observations go, `top` (the scenario's observations) takes status and detail."""

    def __init__(self, scenario_run: ClientRun, spec: Json, obs: Json, index: int) -> None:
        self.http = scenario_run.http
        self.c = spec
        self.obs = obs
        self.top = scenario_run.obs
        self.rec = scenario_run.rec
        self.fault = scenario_run.fault
        self.ctx = scenario_run.ctx
        self.index = index
        self.st = ClientState()
        self.env: OpEnv | None = None  # set once request() returned
        self.done: asyncio.Future[None] = self.rec.loop.create_future()

    def ev(self, src: str, name: str, extra: Json | None = None) -> None:
        self.st.fired.add(f"{src}:{name}")  # wait_event waits for any recorded event
        self.rec.event(self.obs["events"], {"src": src, "name": name, "t": self.rec.t(), **(extra or {})})

    def mark(self, key: str) -> None:
        self.st.fired.add(key)
        self.rec.poke()

    def _settle(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def fill_props(self) -> None:
        for key, entry in vocabulary().client_props.items():
            if "read" in entry or key in PROPS_BY_NAME:
                self.obs["props"][key] = _prop(self.st, key, entry) if self.st.req is not None else None

    def fill_body(self) -> None:
        if self.st.parts:
            self.obs["body"] = {"$bytes": b64(b"".join(self.st.parts))}

    def waiting(self) -> str | None:
        """What this request still waits for ('' when only its ops run), None if nothing."""
        st = self.st
        if not st.started or st.req is None or st.finished():
            return None
        waiting = []
        if not st.req_closed:
            waiting.append("req 'close'")
        if st.res is not None and not st.res_closed and not st.res_ended:
            waiting.append("res 'end' or 'close'")
        return ", ".join(waiting)

    def start(self) -> None:
        st, c = self.st, self.c
        st.started = True
        call = c.get("call") or "request"
        signals_before = len(self.ctx.signals)
        # The ops task is made first so that its first step runs before anything request()
        # schedules: in Node the ops run synchronously, before the request's socket exists.
        ops = asyncio.ensure_future(self.run_ops())
        try:
            args = decode(c.get("args") or [], self.ctx)
            if self.fault is not None:
                args = self.fault.on_options(args)
            # request / get are functions; a `construct` call (ClientRequest) is the class,
            # and calling it in Python is `new`.
            req = getattr(self.http, call)(*args)
        except Exception as exc:  # noqa: BLE001 - a synchronous throw is this request's whole observation
            ops.cancel()
            self.obs["threw"] = error_record(exc)
            self._settle()
            return
        st.req = req
        for controller, ms in self.ctx.signals[signals_before:]:
            self.rec.set_timer(controller.abort, ms)
        self.attach_req(req)
        self.env = OpEnv(self.http, self.rec, self.ctx, self.top, self.call, {"req": req},
                         lambda _receiver, method: self._callback(method), fired=st.fired, tasks=st.tasks)
        ended = self.rec.until(st.finished)
        both = asyncio.ensure_future(asyncio.gather(ops, ended))
        st.tasks.append(both)
        both.add_done_callback(self._ops_over)

    def _ops_over(self, both: asyncio.Future[Any]) -> None:
        # Cancelled (the scenario ended first, or a child was cancelled) is no error.
        error = None if both.cancelled() else both.exception()
        if error is not None and not isinstance(error, asyncio.CancelledError):
            report_error(self.top, f"executor error in request {self.index}: {describe(error)}")
        self._settle()

    # ---- listeners ---------------------------------------------------------------------

    def attach_req(self, req: Any) -> None:
        for name in recorded_events("client", "req"):
            req.on(name, self._guard(self._req_event(name)))
        req.on("error", self._guard(self._req_error))
        if self.c.get("throw_in") == "req:error":
            req.on("error", self._thrower)
        req.on("information", self._guard(self._on_information))
        for name in ("upgrade", "connect"):
            # upgrade_listener: false leaves 'upgrade' unlistened (Node then destroys the socket).
            if name == "upgrade" and self.c.get("upgrade_listener") is False:
                continue
            req.on(name, self._guard(self._upgrade_listener(name)))
        # listen_response false: no 'response' listener at all, so Node dumps the response.
        if self.c.get("listen_response") is not False:
            req.on("response", self._guard(self.on_response))
        if self.c.get("throw_in") == "response":
            req.on("response", self._thrower)

    def _thrower(self, *_args: Any) -> None:
        """throw_in: a listener attached after ours that raises new Error(throw_message)."""
        raise scenario_error(self.ctx, str(self.c.get("throw_message") or "thrown by a listener"))

    def _guard(self, fn: Any) -> Any:
        # A listener of ours must never throw into the reference's emit().
        def listener(*args: Any) -> None:
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - our bug, not the reference's
                report_error(self.top, f"executor error in a listener: {describe(exc)}")
        return listener

    def _req_event(self, name: str) -> Any:
        def on(*_args: Any) -> None:
            self.ev("req", name)
            if name == "close":
                self.st.req_closed = True
            if name == "timeout" and self.c.get("on_timeout") == "destroy":
                try:
                    self.st.req.destroy()
                except Exception as exc:  # noqa: BLE001
                    self.ev("req", "destroy_threw", {"error": error_record(exc)})
            self.mark(f"req:{name}")
        return on

    def _req_error(self, err: Any = None, *_args: Any) -> None:
        self.ev("req", "error", {"error": error_record(err)})
        self.mark("req:error")

    def _on_information(self, info: Any = None, *_args: Any) -> None:
        self.ev("req", "information", {"info": {
            name: _info_field(info, name) for name in ("statusCode", "statusMessage", "headers", "rawHeaders")}})
        self.mark("req:information")

    def _upgrade_listener(self, name: str) -> Any:
        def on(res: Any = None, socket: Any = None, head: Any = None, *_args: Any) -> None:
            record = {"src": "req", "name": name, "t": self.rec.t(), "info": head_snapshot(res),
                      "head": plain(to_bytes(head or b""))}
            self.rec.event(self.obs["events"], record)
            self.mark(f"req:{name}")
            tunnel_ops = self.c.get("on_upgrade")
            if isinstance(tunnel_ops, list) and socket is not None:
                # The tunnel ops own the socket; the request is done once it closed.
                self.st.tunneling = True
                env = OpEnv(self.http, self.rec, self.ctx, self.top, self.call, {"socket": socket},
                            lambda _receiver, _method: lambda *_a: None, tasks=self.st.tasks)
                task = asyncio.ensure_future(run_tunnel(tunnel_ops, socket, record, self.obs["events"], env))
                task.add_done_callback(lambda _t: self._upgrade_over())
                self.st.tasks.append(task)
                return
            # The socket is handed to us; end it so the scenario can finish.
            try:
                if socket is not None and not getattr(socket, "destroyed", True) and hasattr(socket, "once"):
                    socket.once("close", lambda *_: self._upgrade_over())
                    socket.destroy()
                else:
                    self.st.upgrade_done = True
            except Exception:  # noqa: BLE001
                self.st.upgrade_done = True
        return on

    def _upgrade_over(self) -> None:
        self.st.upgrade_done = True
        self.rec.poke()

    def on_response(self, res: Any = None, *_args: Any) -> None:
        st, rec, obs = self.st, self.rec, self.obs
        st.res = res
        if self.env is not None:
            self.env.receivers["res"] = res  # res.get / res.call read the response so far
        self.ev("req", "response")
        obs["response"] = {**head_snapshot(res), **{
            name: read_attr(res, name) for name in ("headersDistinct", "trailers", "rawTrailers", "complete")}}
        for name in recorded_events("client", "res"):
            res.on(name, self._guard(self._res_event(name)))
        res.on("error", self._guard(self._res_error))
        if self.c.get("throw_in") == "res:end":
            res.on("end", self._thrower)
        how: Json = self.c.get("response") or {}
        if how.get("finished"):
            self._watch_finished(res)
        if how.get("destroy_on_readable"):
            # The reference has no 'readable' event: its first chunk is when data is readable.
            res.once("data", self._guard(lambda *_a: res.destroy()))
        if how.get("encoding") is not None:
            try:
                res.set_encoding(how["encoding"])
            except Exception as exc:  # noqa: BLE001
                self.ev("res", "setEncoding_threw", {"error": error_record(exc)})
        if how.get("iterate"):
            st.tasks.append(asyncio.ensure_future(self._iterate(res)))
        else:
            res.on("data", self._guard(self.on_chunk))
        pause_ms = how.get("pause_ms")
        if isinstance(pause_ms, (int, float)) and not isinstance(pause_ms, bool) and pause_ms > 0:
            try:
                res.pause()
                obs["props"]["res.isPaused_after_pause"] = plain(res.is_paused())
                rec.set_timer(res.resume, pause_ms)
            except Exception as exc:  # noqa: BLE001
                obs["props"]["res.isPaused_after_pause"] = None
                self.ev("res", "pause_threw", {"error": error_record(exc)})
        self.mark("req:response")

    def _res_event(self, name: str) -> Any:
        def on(*_args: Any) -> None:
            st, rec = self.st, self.rec
            self.ev("res", name)
            if name in ("end", "close"):
                self._read_tail()
                if not rec.frozen:
                    self.obs["props"][DESTROYED_AT[name]] = read_attr(st.res, "destroyed")
            if name == "end":
                st.res_ended = True
                rec.set_timer(self._grace_over, timing("end_grace_ms"))
            if name == "close":
                st.res_closed = True
            self.mark(f"res:{name}")
        return on

    def _watch_finished(self, res: Any) -> None:
        """stream.finished(res, cb) of executor.mjs: the callback once, at 'end' (no error),
        'error' (that error) or a 'close' before 'end' (ERR_STREAM_PREMATURE_CLOSE)."""
        state = {"called": False, "ended": False}

        def callback(err: Any = None) -> None:
            if not state["called"]:
                state["called"] = True
                self.ev("res", "finished_cb", {"error": error_record(err)} if err else None)

        def on_end(*_a: Any) -> None:
            state["ended"] = True
            callback()

        def on_close(*_a: Any) -> None:
            if not state["ended"]:
                callback(self.http.NodeError("Premature close", "ERR_STREAM_PREMATURE_CLOSE"))

        try:
            res.on("end", self._guard(on_end))
            res.on("error", self._guard(lambda err=None, *_a: callback(err)))
            res.on("close", self._guard(on_close))
        except Exception as exc:  # noqa: BLE001 - as stream.finished() throwing in executor.mjs
            self.ev("res", "finished_threw", {"error": error_record(exc)})

    def _grace_over(self) -> None:
        self.st.end_grace_over = True
        self.rec.poke()

    def _read_tail(self) -> None:
        response = self.obs["response"]
        if self.rec.frozen or not response:
            return
        for name in ("trailers", "rawTrailers", "complete"):
            response[name] = read_attr(self.st.res, name)

    def _res_error(self, err: Any = None, *_args: Any) -> None:
        self.ev("res", "error", {"error": error_record(err)})
        self.mark("res:error")

    def on_chunk(self, chunk: Any = None, *_args: Any) -> None:
        st, rec = self.st, self.rec
        if rec.frozen:
            return
        data = to_bytes(chunk)
        if self.fault is not None:
            data = self.fault.on_chunk(data)
        st.parts.append(data)
        st.nbytes += len(data)
        self.ev("res", "data", {"len": len(data)})
        self.obs["chunks"].append({"t": rec.t(), "len": len(data), "type": chunk_type(chunk)})
        limit = (self.c.get("response") or {}).get("destroy_after_bytes")
        if isinstance(limit, (int, float)) and not isinstance(limit, bool) and st.nbytes >= limit and not st.destroyed_res:
            st.destroyed_res = True
            try:
                st.res.destroy()
            except Exception as exc:  # noqa: BLE001
                self.ev("res", "destroy_threw", {"error": error_record(exc)})
        how: Json = self.c.get("response") or {}
        abort_at = how.get("abort_after_bytes")
        if _is_number(abort_at) and st.nbytes >= abort_at and not st.aborted_req:
            st.aborted_req = True
            try:
                st.req.abort()
            except Exception as exc:  # noqa: BLE001
                self.ev("req", "abort_threw", {"error": error_record(exc)})
        pause_each = how.get("pause_each_ms")
        if _is_number(pause_each) and pause_each > 0:
            try:
                st.res.pause()
                rec.set_timer(st.res.resume, pause_each)
            except Exception as exc:  # noqa: BLE001
                self.ev("res", "pause_threw", {"error": error_record(exc)})

    async def _iterate(self, res: Any) -> None:
        try:
            async for chunk in res:
                self._guard(self.on_chunk)(chunk)
        except Exception:  # noqa: BLE001, S110 - the same error is recorded by the 'error' listener
            pass

    # ---- ops ---------------------------------------------------------------------------

    async def run_ops(self) -> None:
        for given_op in self.c.get("ops") or []:
            for op in ops_for(self.fault, given_op):
                if self.rec.timed_out or self.env is None:
                    return
                await run_op(op, self.env)

    def call(self, rec: Json) -> None:
        if not self.rec.frozen:
            self.obs["calls"].append(rec)

    def _callback(self, name: str) -> Any:
        def cb(err: Any = None, *_args: Any) -> None:
            self.ev("req", f"{name}_cb", {"error": error_record(err)} if err else None)
        return self._guard(cb)

    def release(self) -> None:
        st = self.st
        for task in st.tasks:
            task.cancel()
        for obj, closed in ((st.req, st.req_closed), (st.res, st.res_closed)):
            try:
                if obj is not None and not closed and not getattr(obj, "destroyed", False):
                    obj.destroy()
            except Exception:  # noqa: BLE001, S110 - best effort
                pass


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _info_field(info: Any, name: str) -> Any:
    if isinstance(info, dict):  # the reference may hand 'information' a plain dict
        value = info.get(name, info.get(snake(name)))
        return plain(value)
    return read_attr(info, name)
