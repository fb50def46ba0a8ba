"""Ops shared by every op list of the impl executor (SCENARIO.md "Agent and module reads").

agent.get, agent.call, module.get and module.call, as sharedOp() of executor.mjs does them, for the
client (executor.py) and the server side (server.py).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from harness.observations import Json
from harness.reference.errors import UNDEFINED
from harness.targets.impl.tags import (
    DecodeContext,
    decode,
    encode,
    encode_return,
    error_record,
    lookup_agent,
    snake,
)


def report_error(top: Json, detail: str) -> None:
    top["status"], top["detail"] = "error", detail


def harness_error(code: str, message: str) -> Json:
    return {"name": "HarnessError", "code": code, "message": message}


def read_member(owner: Any, attr: str) -> Json:
    """`owner[attr]` as a call record's returned/threw; a missing attribute is undefined."""
    try:
        return {"returned": encode(getattr(owner, attr), owner), "threw": None}
    except AttributeError:
        return {"returned": {"$undefined": True}, "threw": None}
    except Exception as exc:  # noqa: BLE001 - a throwing getter is data, as in JS
        return {"returned": None, "threw": error_record(exc)}


def shared_op(http: ModuleType, op: Json, ctx: DecodeContext, push: Callable[[Json], None], top: Json) -> bool:
    """The ops every op list shares (SCENARIO.md "Agent and module reads"): agent.get,
    agent.call, module.get, module.call. Returns True when `op` was one of them (and recorded)."""
    name = op.get("op")
    if name == "module.get":
        prop = str(op.get("prop"))
        # The reference keeps Node's upper-case constants (METHODS, STATUS_CODES) as they
        # are and camelCase names in snake_case (maxHeaderSize -> max_header_size).
        push({"op": name, **read_member(http, prop if hasattr(http, prop) else snake(prop))})
        return True
    if name == "module.set":
        _module_set(http, op, ctx, push)
        return True
    if name == "module.call":
        try:
            # A function the reference lacks is an AttributeError, recorded as what was thrown.
            returned = getattr(http, snake(str(op.get("method"))))(*decode(op.get("args") or [], ctx))
            push({"op": name, "returned": encode_return(returned, http), "threw": None})
        except Exception as exc:  # noqa: BLE001
            push({"op": name, "returned": None, "threw": error_record(exc)})
        return True
    if name not in ("agent.get", "agent.call", "agent.pool"):
        return False
    agent = lookup_agent(ctx, op.get("agent"))
    if agent is None:
        message = f'no agent {op.get("agent")!r} in this scenario (give one with {{"$agent": {{"id": ...}}}} first)'
        report_error(top, message)
        push({"op": name, "returned": None, "threw": harness_error("ERR_HARNESS_UNKNOWN_AGENT", message)})
        return True
    if name == "agent.get":
        push({"op": name, **read_member(agent, snake(str(op.get("prop"))))})
        return True
    if name == "agent.pool":
        push({"op": name, "returned": _pool_counts(getattr(agent, snake(str(op.get("prop"))), UNDEFINED)),
              "threw": None})
        return True
    try:
        # A method the reference lacks is an AttributeError, recorded as what was thrown.
        returned = getattr(agent, snake(str(op.get("method"))))(*decode(op.get("args") or [], ctx))
        push({"op": name, "returned": encode_return(returned, agent), "threw": None})
    except Exception as exc:  # noqa: BLE001
        push({"op": name, "returned": None, "threw": error_record(exc)})
    return True


def _pool_counts(pool: Any) -> Any:
    """agent.pool: `{name: count}` for a pool mapping (sockets, free_sockets, requests)."""
    if not isinstance(pool, dict):
        return encode(pool, None)
    return {name: len(v) if isinstance(v, list) else encode(v, None) for name, v in pool.items()}


def _module_set(http: ModuleType, op: Json, ctx: DecodeContext, push: Callable[[Json], None]) -> None:
    """module.set: assign a module property for this scenario (undone at its end). The
    reference assigns through `set_<name>` when it has one (globalAgent ->
    set_global_agent), else the attribute, as module.get reads it."""
    prop = str(op.get("prop"))
    attr = prop if hasattr(http, prop) else snake(prop)
    try:
        value = decode(op.get("value"), ctx)
        setter = getattr(http, f"set_{snake(prop)}", None)
        getter = getattr(http, f"get_{snake(prop)}", None)
        old = getter() if getter else getattr(http, attr, UNDEFINED)

        def assign(v: Any) -> None:
            if setter:
                setter(v)
            else:
                setattr(http, attr, v)

        assign(value)
        ctx.restores.append(lambda: assign(old))
        push({"op": "module.set", "returned": {"$undefined": True}, "threw": None})
    except Exception as exc:  # noqa: BLE001
        push({"op": "module.set", "returned": None, "threw": error_record(exc)})
