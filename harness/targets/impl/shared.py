"""Ops shared by every op list of the impl executor (SCENARIO.md "Agent and module reads").

agent.get, agent.call and module.get, as sharedOp() of executor.mjs does them, for the
client (executor.py) and the server side (server.py).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from harness.targets.impl.tags import (
    DecodeContext,
    decode,
    encode,
    encode_return,
    error_record,
    lookup_agent,
    snake,
)

Json = dict[str, Any]


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
    agent.call, module.get. Returns True when `op` was one of them (and recorded)."""
    name = op.get("op")
    if name == "module.get":
        prop = str(op.get("prop"))
        # The reference keeps Node's upper-case constants (METHODS, STATUS_CODES) as they
        # are and camelCase names in snake_case (maxHeaderSize -> max_header_size).
        push({"op": name, **read_member(http, prop if hasattr(http, prop) else snake(prop))})
        return True
    if name not in ("agent.get", "agent.call"):
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
    try:
        # A method the reference lacks is an AttributeError, recorded as what was thrown.
        returned = getattr(agent, snake(str(op.get("method"))))(*decode(op.get("args") or [], ctx))
        push({"op": name, "returned": encode_return(returned, agent), "threw": None})
    except Exception as exc:  # noqa: BLE001
        push({"op": name, "returned": None, "threw": error_record(exc)})
    return True
