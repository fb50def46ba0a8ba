"""The ops of the impl executor (SCENARIO.md), for every op list: client, handler, clientError,
and the tunnels of 'upgrade' / 'connect'.

Which ops exist, where they may appear and what they take is the vocabulary's
(harness/drivers/vocabulary.json), and the scenario was checked against it before it
started. A method op (one with a receiver) is called generically by `_call_method`; every
other op is an entry of SPECIAL_OPS, keyed by its name, as in executor.mjs. Ops are
coroutines, but only the waiting ones suspend: the others run in the same tick as the op
before them, as consecutive calls in a Node program do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from harness import reference
from harness.observations import Json
from harness.reference.errors import UNDEFINED
from harness.targets.impl import server_lifecycle as lifecycle
from harness.targets.impl.recorder import Recorder
from harness.targets.impl.tags import (
    DecodeContext,
    decode,
    encode,
    encode_return,
    error_record,
    lookup_agent,
    scenario_error,
    snake,
)
from harness.vocabulary import Op, load

UNDEF = {"$undefined": True}


@dataclass
class TunnelState:
    """What a tunnel's socket did so far (socket.wait_end, socket.wait_bytes wait on it)."""

    ended: bool = False
    closed: bool = False
    nbytes: int = 0


@dataclass
class OpEnv:
    """Where an op runs: `receivers` (client: req, res; handler: req, res, server;
    clientError: socket, server; tunnels: socket, and server on a server's);
    `callback(receiver, method)` makes the completion callback recorded as "<method>_cb";
    `fired` (client) holds the "src:name" events seen; `body_over` (handler) says the
    request body ended or never will; `tunnel` (tunnels) is the socket's state; `tasks`
    takes what an op leaves running (cancelled when the scenario ends); `ev` (handler)
    records an event of the request."""

    http: ModuleType
    rec: Recorder
    ctx: DecodeContext
    top: Json  # takes status and detail
    push: Callable[[Json], None]
    receivers: dict[str, Any]
    callback: Callable[[str, str], Callable[..., None]]
    fired: set[str] | None = None
    body_over: Callable[[], bool] | None = None
    tunnel: TunnelState | None = None
    tasks: list[asyncio.Future[Any]] = field(default_factory=list)
    ev: Callable[..., None] | None = None  # handler: records an event (src, name, extra) of the request


def report_error(top: Json, detail: str) -> None:
    top["status"], top["detail"] = "error", detail


def harness_error(code: str, message: str) -> Json:
    return {"name": "HarnessError", "code": code, "message": message}


def _timeout(message: str) -> Json:
    return {"name": "HarnessTimeout", "code": None, "message": message}


def _read(owner: Any, attr: str) -> Json:
    """`owner[attr]` as a call record's returned/threw; a missing attribute is undefined."""
    try:
        return {"returned": encode(getattr(owner, attr), owner), "threw": None}
    except AttributeError:
        return {"returned": UNDEF, "threw": None}
    except Exception as exc:  # noqa: BLE001 - a throwing getter is data, as in JS
        return {"returned": None, "threw": error_record(exc)}


def _agent(op: Json, env: OpEnv) -> Any:
    """The op's agent ("global" or a named one), or None once the scenario problem is recorded."""
    agent = lookup_agent(env.ctx, op.get("agent"))
    if agent is None:
        message = f'no agent {op.get("agent")!r} in this scenario (give one with {{"$agent": {{"id": ...}}}} first)'
        report_error(env.top, f"scenario: {message}")
        env.push({"op": op["op"], "returned": None, "threw": harness_error("ERR_HARNESS_UNKNOWN_AGENT", message)})
    return agent


async def _wait(op: Json, env: OpEnv) -> None:
    await env.rec.sleep(op.get("ms"))
    env.push({"op": op["op"], "returned": UNDEF, "threw": None})


async def _wait_event(op: Json, env: OpEnv) -> None:
    key = f"{op.get('src') or 'req'}:{op.get('event')}"
    fired = env.fired if env.fired is not None else set()
    r = await env.rec.until_or_deadline(lambda: key in fired)
    env.push({"op": op["op"], "returned": UNDEF,
              "threw": None if r == "done" else _timeout(f"event {key} did not fire")})


async def _read_body(op: Json, env: OpEnv) -> None:
    # 'end' is the signal; 'close', 'aborted' or 'error' mean the body will never end.
    r = await env.rec.until_or_deadline(env.body_over or (lambda: True))
    env.push({"op": op["op"], "returned": UNDEF,
              "threw": None if r == "done" else _timeout("the request body did not end")})


def _no_response(op: Json, env: OpEnv) -> None:
    """res.get / res.call on a client before any response: recorded, no status change (a
    target may well give none)."""
    env.push({"op": op["op"], "returned": None, "threw": harness_error(
        "ERR_HARNESS_NO_RESPONSE", "no response yet (wait for it with wait_event first)")})


def _assign(owner: Any, op: Json, env: OpEnv) -> None:
    """owner[prop] = value (res.set, server.set), recorded as undefined or what it threw."""
    try:
        setattr(owner, snake(str(op.get("prop"))), decode(op.get("value"), env.ctx))
        env.push({"op": op["op"], "returned": UNDEF, "threw": None})
    except Exception as exc:  # noqa: BLE001
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


def _read_or_compare(op: Json, env: OpEnv, receiver: Any) -> None:
    """req.get / res.get: records receiver[prop]; with `same_as` (an object of the
    vocabulary's `objects`), whether it is that object instead (never encoded)."""
    prop = snake(str(op.get("prop")))
    other = op.get("same_as")
    if other is None:
        env.push({"op": op["op"], **_read(receiver, prop)})
        return
    try:
        owner, _, part = str(other).partition(".")
        expected = env.receivers.get(owner)
        if part and expected is not None:
            expected = getattr(expected, snake(part), None)
        value = getattr(receiver, prop, None)
        env.push({"op": op["op"], "returned": value is not None and value is expected, "threw": None})
    except Exception as exc:  # noqa: BLE001 - a throwing getter is data, as in JS
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


async def _req_get(op: Json, env: OpEnv) -> None:
    _read_or_compare(op, env, env.receivers["req"])


async def _req_set(op: Json, env: OpEnv) -> None:
    _assign(env.receivers["req"], op, env)


async def _readable_pipe(op: Json, env: OpEnv) -> None:
    """Readable.from(chunks).pipe(req): each chunk written on a later turn, then end()."""
    req = env.receivers["req"]

    async def pipe_in(chunks: list[Any]) -> None:
        for chunk in chunks:
            await asyncio.sleep(0)
            if getattr(req, "destroyed", False):
                return
            req.write(chunk)
        await asyncio.sleep(0)
        req.end()

    env.tasks.append(asyncio.ensure_future(pipe_in(decode(op.get("chunks") or [], env.ctx))))
    env.push({"op": op["op"], "returned": "$this", "threw": None})


async def _socket_wait(op: Json, env: OpEnv, pred: Callable[[TunnelState], bool], what: str) -> None:
    state = env.tunnel or TunnelState(ended=True, closed=True)
    r = await env.rec.until_or_deadline(lambda: pred(state))
    env.push({"op": op["op"], "returned": UNDEF, "threw": None if r == "done" else _timeout(what)})


async def _socket_wait_end(op: Json, env: OpEnv) -> None:
    await _socket_wait(op, env, lambda s: s.ended, "the socket did not end")


async def _socket_wait_bytes(op: Json, env: OpEnv) -> None:
    n = int(op.get("bytes") or 0)
    await _socket_wait(op, env, lambda s: s.nbytes >= n, f"fewer than {n} bytes arrived on the socket")


async def _res_call(op: Json, env: OpEnv) -> None:
    res = env.receivers.get("res")
    if res is None:
        _no_response(op, env)
        return
    try:
        args = decode(op.get("args") or [], env.ctx)
        if op.get("method") == "destroy" and args and isinstance(args[0], str):
            args[0] = scenario_error(env.ctx, args[0])
        returned = getattr(res, snake(str(op.get("method"))))(*args)
        env.push({"op": op["op"], "returned": encode_return(returned, res), "threw": None})
    except Exception as exc:  # noqa: BLE001 - a throwing op is recorded, the rest still run
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


async def _res_set(op: Json, env: OpEnv) -> None:
    _assign(env.receivers["res"], op, env)


async def _res_get(op: Json, env: OpEnv) -> None:
    res = env.receivers.get("res")
    if res is None:
        _no_response(op, env)
        return
    _read_or_compare(op, env, res)


async def _server_get(op: Json, env: OpEnv) -> None:
    env.push({"op": op["op"], **_read(env.receivers["server"], snake(str(op.get("prop"))))})


async def _server_set(op: Json, env: OpEnv) -> None:
    _assign(env.receivers["server"], op, env)


async def _module_get(op: Json, env: OpEnv) -> None:
    prop = str(op.get("prop"))
    # The reference keeps Node's upper-case constants (METHODS, STATUS_CODES) as they are
    # and camelCase names in snake_case (maxHeaderSize -> max_header_size).
    env.push({"op": op["op"], **_read(env.http, prop if hasattr(env.http, prop) else snake(prop))})


async def _module_call(op: Json, env: OpEnv) -> None:
    try:
        # A function the reference lacks is an AttributeError, recorded as what was thrown.
        returned = getattr(env.http, snake(str(op.get("method"))))(*decode(op.get("args") or [], env.ctx))
        env.push({"op": op["op"], "returned": encode_return(returned, env.http), "threw": None})
    except Exception as exc:  # noqa: BLE001
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


async def _module_same_global(op: Json, env: OpEnv) -> None:
    """Whether http[prop] is the global of that name. The reference's global scope is the
    package `harness.reference` (fetch, Headers, AbortController, ...), as globalThis is JS's."""
    prop = str(op.get("prop"))
    value = getattr(env.http, prop, None)
    env.push({"op": op["op"], "returned": value is not None and value is getattr(reference, prop, None),
              "threw": None})


async def _module_new(op: Json, env: OpEnv) -> None:
    """o = http[class](*args) (the reference's class, called): `read` recorded as built,
    then again after the `assign` attributes are set (snake_case names; a missing one is
    undefined, as in JS)."""
    try:
        obj = getattr(env.http, str(op.get("class")))(*decode(op.get("args") or [], env.ctx))

        def read() -> Json:
            return {p: encode(getattr(obj, snake(str(p)), UNDEFINED)) for p in op.get("read") or []}

        out: Json = {"before": read()}
        if "assign" in op:
            for prop, value in dict(decode(op["assign"], env.ctx)).items():
                setattr(obj, snake(str(prop)), value)
            out["after"] = read()
        env.push({"op": op["op"], "returned": out, "threw": None})
    except Exception as exc:  # noqa: BLE001
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


async def _instance_of(op: Json, env: OpEnv) -> None:
    """Whether req / res (or a socket) is an instance of the scenario's {"$subclass": name}."""
    cls = env.ctx.subclasses.get(str(op.get("subclass")))
    if cls is None:
        message = f'no subclass {op.get("subclass")!r} in this scenario (make one with {{"$subclass": ...}} first)'
        report_error(env.top, f"scenario: {message}")
        env.push({"op": op["op"], "returned": None, "threw": harness_error("ERR_HARNESS_NO_SUBCLASS", message)})
        return
    try:
        root, _, prop = str(op.get("object")).partition(".")
        obj = getattr(env.receivers[root], snake(prop), None) if prop else env.receivers[root]
        env.push({"op": op["op"], "returned": isinstance(obj, cls), "threw": None})
    except Exception as exc:  # noqa: BLE001 - a throwing getter is data, as in JS
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


async def _module_set(op: Json, env: OpEnv) -> None:
    """http[prop] = value for this scenario (undone at its end). The reference assigns
    through `set_<name>` when it has one (globalAgent -> set_global_agent), else the
    attribute, as module.get reads it."""
    http, prop = env.http, str(op.get("prop"))
    attr = prop if hasattr(http, prop) else snake(prop)
    try:
        value = decode(op.get("value"), env.ctx)
        setter = getattr(http, f"set_{snake(prop)}", None)
        getter = getattr(http, f"get_{snake(prop)}", None)
        old = getter() if getter else getattr(http, attr, UNDEFINED)

        def assign(v: Any) -> None:
            if setter:
                setter(v)
            else:
                setattr(http, attr, v)

        assign(value)
        env.ctx.restores.append(lambda: assign(old))
        env.push({"op": op["op"], "returned": UNDEF, "threw": None})
    except Exception as exc:  # noqa: BLE001
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


async def _agent_get(op: Json, env: OpEnv) -> None:
    agent = _agent(op, env)
    if agent is not None:
        env.push({"op": op["op"], **_read(agent, snake(str(op.get("prop"))))})


async def _agent_call(op: Json, env: OpEnv) -> None:
    agent = _agent(op, env)
    if agent is None:
        return
    try:
        # A method the reference lacks is an AttributeError, recorded as what was thrown.
        returned = getattr(agent, snake(str(op.get("method"))))(*decode(op.get("args") or [], env.ctx))
        env.push({"op": op["op"], "returned": encode_return(returned, agent), "threw": None})
    except Exception as exc:  # noqa: BLE001
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


async def _agent_pool(op: Json, env: OpEnv) -> None:
    agent = _agent(op, env)
    if agent is not None:
        env.push({"op": op["op"], "returned": _pool_counts(getattr(agent, snake(str(op.get("prop"))), UNDEFINED)),
                  "threw": None})


def _pool_counts(pool: Any) -> Any:
    """agent.pool: `{name: count}` for a pool mapping (sockets, free_sockets, requests)."""
    if not isinstance(pool, dict):
        return encode(pool, None)
    return {name: len(v) if isinstance(v, list) else encode(v, None) for name, v in pool.items()}


SPECIAL_OPS: dict[str, Callable[[Json, OpEnv], Awaitable[None]]] = {
    "wait": _wait,
    "wait_event": _wait_event,
    "req.read_body": _read_body,
    "req.get": _req_get,
    "req.set": _req_set,
    "readable.pipe": _readable_pipe,
    "res.on": lifecycle.res_on,
    "socket.on": lifecycle.socket_on,
    "socket.get": lifecycle.socket_get,
    "socket.call": lifecycle.socket_call,
    "same": lifecycle.same,
    "stream.finished": lifecycle.stream_finished,
    "throw": lifecycle.misplaced_throw,
    "reject": lifecycle.misplaced_reject,
    "server.asyncDispose": lifecycle.server_async_dispose,
    "socket.wait_end": _socket_wait_end,
    "socket.wait_bytes": _socket_wait_bytes,
    "res.set": _res_set,
    "res.get": _res_get,
    "res.call": _res_call,
    "server.get": _server_get,
    "server.set": _server_set,
    "module.get": _module_get,
    "module.set": _module_set,
    "module.call": _module_call,
    "module.same_global": _module_same_global,
    "module.new": _module_new,
    "instance_of": _instance_of,
    "agent.get": _agent_get,
    "agent.call": _agent_call,
    "agent.pool": _agent_pool,
}


def _call_method(op: Json, spec: Op, env: OpEnv) -> None:
    """receiver[method](...args), with the vocabulary's callback and error_arg; Node's
    camelCase method is the reference's snake_case one."""
    assert spec.receiver is not None and spec.method is not None
    target = env.receivers[spec.receiver]
    try:
        args = decode(op.get("args") or [], env.ctx)
        if spec.error_arg and args and isinstance(args[0], str):
            args[0] = scenario_error(env.ctx, args[0])
        if spec.callback:
            args = [*args, env.callback(spec.receiver, spec.method)]
        returned = getattr(target, snake(spec.method))(*args)
        env.push({"op": op["op"], "returned": encode_return(returned, target), "threw": None})
    except Exception as exc:  # noqa: BLE001 - a throwing op is recorded, the rest still run
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


async def run_op(op: Any, env: OpEnv) -> None:
    name = op.get("op") if isinstance(op, dict) else None
    spec = load().ops.get(name) if isinstance(name, str) else None
    if spec is not None and spec.receiver is not None:
        _call_method(op, spec, env)
        return
    special = SPECIAL_OPS.get(spec.name) if spec is not None else None
    if special is not None:
        await special(op, env)
        return
    # The scenario was checked before it started, so this is an op a fault made up, or one
    # the vocabulary has and this executor does not implement yet.
    message = f"unknown op {name!r}" if spec is None else f"op {name!r} is not implemented by this executor"
    report_error(env.top, f"{'scenario' if spec is None else 'executor error'}: {message}")
    env.push({"op": name, "returned": None, "threw": harness_error("ERR_HARNESS_UNKNOWN_OP", message)})
