"""The lifecycle ops of a server handler (SCENARIO.md "Lifecycle ops"), as lifecycleOp in
executor.mjs: `res.on` (a recording listener for one more response event), `socket.get` /
`socket.call` on req.socket, `socket.on` (a recording listener on req.socket), `same`
(whether two objects reachable from req/res are one) and `stream.finished` (the
reference has no stream module: a missing function is what calling it throws).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.observations import Json
from harness.targets.impl.tags import (
    DecodeContext,
    decode,
    encode,
    encode_return,
    error_record,
    snake,
    to_bytes,
)

UNDEF = {"$undefined": True}

LIFECYCLE_OPS = frozenset({"res.on", "socket.get", "socket.call", "socket.on", "same", "stream.finished"})
# socket.call methods, on req.socket.
HANDLER_SOCKET_METHODS = frozenset({"setEncoding"})


def _resolve(path: Any, roots: dict[str, Any]) -> Any:
    root, _, prop = str(path).partition(".")
    if root not in roots:
        raise ValueError(f"same: unknown root {root!r}")
    return getattr(roots[root], snake(prop), None) if prop else roots[root]


def lifecycle_op(op: Json, req: Any, res: Any, ctx: DecodeContext,
                 ev: Callable[..., None]) -> Json:
    """Runs one lifecycle op (its name is in LIFECYCLE_OPS) and returns its call record."""
    name = op.get("op")
    try:
        if name == "res.on":
            event = str(op.get("event"))

            def listener(arg: Any = None, *_a: Any) -> None:
                ev("res", event, {"error": error_record(arg)} if isinstance(arg, BaseException) else None)

            returned = encode(res.on(event, listener), res)
        elif name == "socket.get":
            prop = snake(str(op.get("prop")))
            returned = encode(getattr(req.socket, prop), req.socket) if hasattr(req.socket, prop) else UNDEF
        elif name == "socket.on":
            event = str(op.get("event"))

            def socket_listener(arg: Any = None, *_a: Any) -> None:
                if isinstance(arg, BaseException):
                    ev("socket", event, {"error": error_record(arg)})
                elif isinstance(arg, str | bytes | bytearray):
                    ev("socket", event, {"len": len(to_bytes(arg))})
                else:
                    ev("socket", event)

            returned = encode(req.socket.on(event, socket_listener), req.socket)
        elif name == "stream.finished":
            raise AttributeError("the reference has no stream.finished")
        elif name == "socket.call":
            method = getattr(req.socket, snake(str(op.get("method"))))
            returned = encode_return(method(*decode(op.get("args") or [], ctx)), req.socket)
        else:
            roots = {"req": req, "res": res}
            returned = _resolve(op.get("a"), roots) is _resolve(op.get("b"), roots)
        return {"op": name, "returned": returned, "threw": None}
    except Exception as exc:  # noqa: BLE001 - a throwing op is recorded, the rest still run
        return {"op": name, "returned": None, "threw": error_record(exc)}
