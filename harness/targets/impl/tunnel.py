"""Tunnels: the socket an 'upgrade' or 'connect' listener gets (runTunnel() of executor.mjs).

SCENARIO.md "Upgrade and CONNECT". The reference never emits those events (fetch has no
101 and no CONNECT), so this runs only when a runtime-like object does; it is kept line
for line with the JavaScript executor all the same. The ops are those of the vocabulary's
tunnel op lists, run by ops.run_op like every other list's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.observations import Json
from harness.targets.impl.ops import OpEnv, TunnelState, report_error, run_op
from harness.targets.impl.tags import b64, error_record, to_bytes


async def run_tunnel(ops: list[Json], socket: Any, record: Json, events: list[Json], env: OpEnv) -> None:
    """Watch `socket` (data to record["tunnel"], events as src 'socket'), run the tunnel
    ops (results to record["calls"]; `env` gives receivers, ctx and top), then wait until
    the socket closed or the deadline."""
    rec = env.rec
    parts: list[bytes] = []
    state = TunnelState()
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

    tunnel_env = dataclasses.replace(env, push=push, tunnel=state)
    try:
        for op in ops:
            if rec.timed_out or rec.frozen:
                break
            await run_op(op, tunnel_env)
    except Exception as exc:  # noqa: BLE001 - an executor bug is the scenario's error
        report_error(env.top, f"executor error in tunnel ops: {exc!r}")
    await rec.until_or_deadline(lambda: state.closed or bool(getattr(socket, "destroyed", False)))
