"""The lifecycle ops of a server handler (SCENARIO.md "Lifecycle ops"), as executor.mjs
runs them: `res.on` (a recording listener for one more response event), `socket.get` /
`socket.call` on req.socket, `socket.on` (a recording listener on req.socket), `same`
(whether two objects reachable from req/res are one), `stream.finished` (node:stream's,
which the reference does not have: done here on the response's events), `throw` (anywhere
but first), `reject` (anywhere but last) and `server.asyncDispose`. ops.SPECIAL_OPS lists them under their vocabulary names.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from harness.observations import Json
from harness.targets.impl.tags import decode, encode, encode_return, error_record, snake, to_bytes

if TYPE_CHECKING:
    from harness.targets.impl.ops import OpEnv

UNDEF = {"$undefined": True}


def _recorded(op: Json, env: OpEnv, fn: Callable[[], Any]) -> None:
    """What fn() returned (already encoded) or threw, as the op's call record."""
    try:
        env.push({"op": op["op"], "returned": fn(), "threw": None})
    except Exception as exc:  # noqa: BLE001 - a throwing op is recorded, the rest still run
        env.push({"op": op["op"], "returned": None, "threw": error_record(exc)})


def _ev(env: OpEnv) -> Callable[..., None]:
    assert env.ev is not None, "lifecycle ops run in a handler"
    return env.ev


async def res_on(op: Json, env: OpEnv) -> None:
    res, event, ev = env.receivers["res"], str(op.get("event")), _ev(env)

    def listener(arg: Any = None, *_a: Any) -> None:
        ev("res", event, {"error": error_record(arg)} if isinstance(arg, BaseException) else None)

    _recorded(op, env, lambda: encode(res.on(event, listener), res))


async def socket_on(op: Json, env: OpEnv) -> None:
    socket, event, ev = env.receivers["req"].socket, str(op.get("event")), _ev(env)

    def listener(arg: Any = None, *_a: Any) -> None:
        if isinstance(arg, BaseException):
            ev("socket", event, {"error": error_record(arg)})
        elif isinstance(arg, str | bytes | bytearray):
            ev("socket", event, {"len": len(to_bytes(arg))})
        else:
            ev("socket", event)

    _recorded(op, env, lambda: encode(socket.on(event, listener), socket))


async def socket_get(op: Json, env: OpEnv) -> None:
    socket, prop = env.receivers["req"].socket, snake(str(op.get("prop")))
    _recorded(op, env, lambda: encode(getattr(socket, prop), socket) if hasattr(socket, prop) else UNDEF)


async def socket_call(op: Json, env: OpEnv) -> None:
    socket = env.receivers["req"].socket
    _recorded(op, env, lambda: encode_return(
        getattr(socket, snake(str(op.get("method"))))(*decode(op.get("args") or [], env.ctx)), socket))


async def same(op: Json, env: OpEnv) -> None:
    def resolve(path: Any) -> Any:
        # A path is req or res, optionally followed by one property (res.socket).
        root, _, prop = str(path).partition(".")
        return getattr(env.receivers[root], snake(prop), None) if prop else env.receivers[root]

    _recorded(op, env, lambda: resolve(op.get("a")) is resolve(op.get("b")))


async def stream_finished(op: Json, env: OpEnv) -> None:
    """stream.finished(res, cb), as Node's end-of-stream for a writable that emits 'close':
    the callback once, after 'close' (ERR_STREAM_PREMATURE_CLOSE if it never finished),
    or with the error of an 'error' event first. The reference is node:http only, so this
    stand-in for node:stream lives here."""
    res, ev = env.receivers["res"], _ev(env)
    called = False

    def callback(err: Any = None, *_a: Any) -> None:
        nonlocal called
        if not called:
            called = True
            ev("res", "finished_cb", {"error": error_record(err)} if err else None)

    def on_close(*_a: Any) -> None:
        premature = env.http.NodeError("Premature close", "ERR_STREAM_PREMATURE_CLOSE")
        callback(None if res.writable_finished else premature)

    def call() -> Any:
        if res.closed:
            asyncio.get_running_loop().call_soon(on_close)
        else:
            res.on("close", on_close)
            res.on("error", callback)
        return UNDEF

    _recorded(op, env, call)


async def misplaced_throw(op: Json, env: OpEnv) -> None:
    """Only the first op of a handler or of a server's tunnel list throws
    (server._handle_request, _handle_tunnel_request); anywhere else it is a scenario
    error, worded as executor.mjs does."""
    message = 'op "throw" is only ever the first op of a handler, on_upgrade or on_connect'
    env.top["status"], env.top["detail"] = "error", f"scenario: {message}"
    env.push({"op": op["op"], "returned": None,
              "threw": {"name": "HarnessError", "code": "ERR_HARNESS_UNKNOWN_OP", "message": message}})


async def misplaced_reject(op: Json, env: OpEnv) -> None:
    """Only the last op of a handler rejects (server._handle_request); anywhere else it is
    a scenario error, worded as executor.mjs does."""
    message = 'op "reject" is only ever the last op of a handler'
    env.top["status"], env.top["detail"] = "error", f"scenario: {message}"
    env.push({"op": op["op"], "returned": None,
              "threw": {"name": "HarnessError", "code": "ERR_HARNESS_UNKNOWN_OP", "message": message}})


async def server_async_dispose(op: Json, env: OpEnv) -> None:
    """server[Symbol.asyncDispose]() (the reference's async_dispose); its settling is the
    server event "dispose_cb" (env.callback("server", "dispose"))."""
    server, done = env.receivers["server"], env.callback("server", "dispose")

    async def settle(pending: Awaitable[Any]) -> None:
        try:
            await pending
            done()
        except Exception as exc:  # noqa: BLE001 - a rejection is data
            done(exc)

    def call() -> Any:
        returned = server.async_dispose()
        if inspect.isawaitable(returned):
            env.tasks.append(asyncio.ensure_future(settle(returned)))
            return {}  # what a Promise encodes as
        return encode_return(returned, server)

    _recorded(op, env, call)
