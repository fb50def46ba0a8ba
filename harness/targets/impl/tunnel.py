"""Tunnels: the socket an 'upgrade' or 'connect' listener gets (runTunnel() of executor.mjs).

SCENARIO.md "Upgrade and CONNECT". The reference never emits those events (fetch has no
101 and no CONNECT), so this runs only when a runtime-like object does; it is kept line
for line with the JavaScript executor all the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.observations import Json
from harness.targets.impl.recorder import Recorder
from harness.targets.impl.shared import harness_error, report_error
from harness.targets.impl.tags import (
    DecodeContext,
    b64,
    decode,
    encode_return,
    error_record,
    snake,
    to_bytes,
)

SOCKET_METHODS = frozenset({"write", "end", "destroy"})
UNDEF = {"$undefined": True}
# Runs the ops a list shares (agent, module, server ops); True when it did.
OtherOp = Callable[[Json, Callable[[Json], None]], bool]


@dataclass
class SocketState:
    ended: bool = False
    closed: bool = False
    nbytes: int = 0


async def run_tunnel(ops: list[Json], socket: Any, record: Json, events: list[Json], ctx: DecodeContext,
                     rec: Recorder, top: Json, other_op: OtherOp) -> None:
    """Watch `socket` (data to record["tunnel"], events as src 'socket'), run the tunnel
    ops (results to record["calls"]), then wait until the socket closed or the deadline."""
    parts: list[bytes] = []
    state = SocketState()
    record["tunnel"], record["calls"] = {"$bytes": ""}, []

    def sev(name: str, extra: Json | None = None) -> None:
        rec.event(events, {"src": "socket", "name": name, "t": rec.t(), **(extra or {})})

    def on_data(chunk: Any = None, *_a: Any) -> None:
        if rec.frozen:
            return
        data = to_bytes(chunk)
        parts.append(data)
        state.nbytes += len(data)
        record["tunnel"] = {"$bytes": b64(b"".join(parts))}
        sev("data", {"len": len(data)})

    def on_end(*_a: Any) -> None:
        state.ended = True
        sev("end")

    def on_close(*_a: Any) -> None:
        state.ended = state.closed = True
        sev("close")

    socket.on("data", on_data)
    socket.on("end", on_end)
    socket.on("close", on_close)
    socket.on("error", lambda err=None, *_a: sev("error", {"error": error_record(err)}))

    def push(call: Json) -> None:
        if not rec.frozen:
            record["calls"].append(call)

    async def wait_for(name: str, pred: Callable[[], bool], what: str) -> None:
        r = await rec.until_or_deadline(pred)
        push({"op": name, "returned": UNDEF, "threw": None if r == "done" else {
            "name": "HarnessTimeout", "code": None, "message": what}})

    async def run_one(op: Json) -> None:
        name = op.get("op") if isinstance(op, dict) else None
        if name == "wait":
            await rec.sleep(op.get("ms"))
            push({"op": name, "returned": UNDEF, "threw": None})
            return
        if name == "socket.wait_end":
            await wait_for(name, lambda: state.ended, "the socket did not end")
            return
        if name == "socket.wait_bytes":
            n = int(op.get("bytes") or 0)
            await wait_for(name, lambda: state.nbytes >= n, f"fewer than {n} bytes arrived on the socket")
            return
        if isinstance(op, dict) and other_op(op, push):
            return
        method = name[7:] if isinstance(name, str) and name.startswith("socket.") else None
        if method not in SOCKET_METHODS:
            report_error(top, f"unknown tunnel op {name!r}")
            push({"op": name, "returned": None, "threw": harness_error(
                "ERR_HARNESS_UNKNOWN_OP", f"unknown tunnel op {name!r}")})
            return
        try:
            args = decode(op.get("args") or [], ctx)
            if method == "destroy" and args and isinstance(args[0], str):
                args[0] = ctx.http.NodeError(args[0])  # new Error(arg)
            push({"op": name, "returned": encode_return(getattr(socket, snake(method))(*args), socket),
                  "threw": None})
        except Exception as exc:  # noqa: BLE001 - a throwing op is recorded, the rest still run
            push({"op": name, "returned": None, "threw": error_record(exc)})

    for op in ops:
        if rec.timed_out or rec.frozen:
            break
        await run_one(op)
    await rec.until_or_deadline(lambda: state.closed or bool(getattr(socket, "destroyed", False)))
