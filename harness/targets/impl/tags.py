"""Tagged values (SCENARIO.md) for the impl target: JSON <-> the reference's Python values.

Mirrors decode()/encode()/errorRecord() of harness/drivers/executor.mjs so both
executors answer the same JSON for the same thing: Node's `undefined` is the
reference's UNDEFINED, a Buffer is bytes, a Uint8Array is bytearray, a Map is a dict.
"""

from __future__ import annotations

import base64
import functools
import math
import re
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from harness.observations import Json
from harness.reference import urls
from harness.reference.errors import UNDEFINED, js_string, js_typeof
from harness.reference.fetch import Headers

MAX_ENCODE_DEPTH = 8

_SNAKE_1 = re.compile(r"(.)([A-Z][a-z]+)")
_SNAKE_2 = re.compile(r"([a-z0-9])([A-Z])")


@functools.lru_cache(maxsize=4096)  # the same few names are read for every scenario
def snake(name: str) -> str:
    """Node's camelCase name -> the reference's: getRawHeaderNames -> get_raw_header_names."""
    return _SNAKE_2.sub(r"\1_\2", _SNAKE_1.sub(r"\1_\2", name)).lower()


def camel(name: str) -> str:
    """The reference's attribute name -> Node's, for encoding plain objects."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# An exception made from a scenario's data (a listener's throw, destroy(err), a callback
# option's throw) carries its scenario's Recorder here: the reference may raise one after
# that scenario ended, and record_uncaught must not put it in another's record.
OWNER = "_harness_scenario_recorder"
E = TypeVar("E", bound=BaseException)


def owned(err: E, rec: Any) -> E:
    if rec is not None:
        setattr(err, OWNER, rec)
    return err


@dataclass
class DecodeContext:
    """What a scenario creates while decoding and must release afterwards.

    Named agents ({"$agent": {"id": ...}}) are kept by id; `agent_obs` is where their
    events go (client observations `agents`), None when they are not recorded, and
    `on_agent` is how they are watched (set by the executor).
    """

    http: ModuleType
    rec: Any = None  # the scenario's Recorder: errors made from its data are its own (owned)
    agents: list[Any] = field(default_factory=list)
    signals: list[tuple[Any, float]] = field(default_factory=list)  # (controller, abort_after_ms)
    agents_by_id: dict[str, Any] = field(default_factory=dict)
    on_agent: Any = None  # callable(id, agent), or None
    restores: list[Any] = field(default_factory=list)  # callables undoing module.set
    subclasses: dict[str, type] = field(default_factory=dict)  # {"$subclass": name}, one per name


# Node's server builds req from http.IncomingMessage; the reference's server class is its own.
SUBCLASS_BASES = {"IncomingMessage": "ServerIncomingMessage"}


def release_context(ctx: DecodeContext) -> None:
    """At a scenario's end: undo its module.set assignments, then destroy its agents."""
    for restore in reversed(ctx.restores):
        try:
            restore()
        except Exception:  # noqa: BLE001, S110 - best effort
            pass
    ctx.restores.clear()
    for agent in ctx.agents:
        try:
            agent.destroy()
        except Exception:  # noqa: BLE001, S110 - best effort
            pass


def lookup_agent(ctx: DecodeContext, agent_id: Any) -> Any:
    """The agent an op names: "global" is the global agent, else a named agent (or None)."""
    if agent_id == "global":
        getter = getattr(ctx.http, "get_global_agent", None)
        return getter() if getter else ctx.http.global_agent
    return ctx.agents_by_id.get(agent_id) if isinstance(agent_id, str) else None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode(value: Any, ctx: DecodeContext) -> Any:
    """Turn tags into runtime values; other JSON stays as it is."""
    if isinstance(value, list):
        return [decode(v, ctx) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        key, inner = next(iter(value.items()))
        if isinstance(key, str) and key.startswith("$"):
            found, out = _decode_tag(key, inner, ctx)
            if found:
                return out
    return {k: decode(v, ctx) for k, v in value.items()}


def _decode_tag(key: str, inner: Any, ctx: DecodeContext) -> tuple[bool, Any]:
    http = ctx.http
    if key == "$bytes":
        return True, base64.b64decode(str(inner))
    if key == "$u8":
        return True, bytearray(base64.b64decode(str(inner)))
    if key == "$undefined":
        return True, UNDEFINED
    if key == "$agent":
        if inner == "global":
            return True, lookup_agent(ctx, "global")
        if isinstance(inner, dict) and isinstance(inner.get("id"), str):
            # A named agent: created on first use, the same object every later time.
            known = lookup_agent(ctx, inner["id"])
            if known is not None:
                return True, known
            named = http.Agent(decode(inner.get("options") or {}, ctx))
            # Method overrides, assigned onto the agent (snake_case names) as a program
            # replaces a hook.
            for name, fn in (inner.get("overrides") or {}).items():
                setattr(named, snake(str(name)), decode(fn, ctx))
            ctx.agents.append(named)
            ctx.agents_by_id[inner["id"]] = named
            if ctx.on_agent is not None:
                ctx.on_agent(inner["id"], named)
            return True, named
        agent = http.Agent(decode(inner or {}, ctx))
        ctx.agents.append(agent)
        return True, agent
    if key == "$signal":
        ms = float((inner or {}).get("abort_after_ms") or 0) if isinstance(inner, dict) else 0.0
        if ms <= 0:
            return True, http.AbortSignal.abort()
        controller = http.AbortController()
        ctx.signals.append((controller, ms))
        return True, controller.signal
    if key == "$headers":
        return True, Headers(decode(inner, ctx))
    if key == "$map":
        return True, {k: v for k, v in decode(inner, ctx)}
    if key == "$number":
        return True, float(inner)
    if key == "$url" and isinstance(inner, dict):  # a URL object, with own properties added
        url = urls.parse(str(inner.get("url")))
        url.own.update({k: decode(v, ctx) for k, v in (inner.get("props") or {}).items()})
        return True, url
    if key == "$plain" and isinstance(inner, dict):  # a one-key object whose key is data
        return True, {k: decode(v, ctx) for k, v in inner.items()}
    if key == "$subclass":  # class extends http[name] {}: one per name and scenario
        name = str(inner)
        if name not in ctx.subclasses:
            base = getattr(http, SUBCLASS_BASES.get(name, name))
            ctx.subclasses[name] = type(f"Scenario{name}", (base,), {})
        return True, ctx.subclasses[name]
    if key == "$fn":
        return True, _fixed_function(inner if isinstance(inner, dict) else {}, ctx)
    return False, None  # not a tag we know: an ordinary one-key object


def scenario_error(ctx: DecodeContext, message: str) -> BaseException:
    """new Error(message) made from the scenario's data: its own (owned)."""
    return owned(ctx.http.NodeError(message), ctx.rec)


def _fixed_function(spec: Json, ctx: DecodeContext) -> Any:
    """A callback option as data: returns a fixed value, or raises Error(throws)."""
    returned = decode(spec.get("returns", UNDEFINED), ctx)
    throws = spec.get("throws")

    def fn(*_args: Any) -> Any:
        if isinstance(throws, str):
            raise scenario_error(ctx, throws)
        return returned
    return fn


# Optional keys of an error record, present only when the error has them (SCENARIO.md),
# with the reference's attribute names.
ERROR_EXTRAS = (("syscall", "syscall"), ("address", "address"), ("port", "port"), ("bytesParsed", "bytes_parsed"))


def error_record(err: Any) -> Json:
    """An exception as {name, code, message} (plus syscall, address, port, bytesParsed when
    it has them): the JS name the reference gives it, else the class name."""
    if not isinstance(err, BaseException):
        return {"name": js_typeof(err), "code": None, "message": js_string(err)}
    name = getattr(err, "name", None)
    if isinstance(err, (ImportError, AttributeError, NameError)) or not isinstance(name, str) or not name:
        # ImportError.name is a module name, AttributeError.name / NameError.name the missing
        # attribute's: not a JS constructor.
        name = type(err).__name__
    code = getattr(err, "code", None)
    if code is not None and not isinstance(code, (str, int)):
        code = str(code)
    message = getattr(err, "message", None)
    if not isinstance(message, str):
        message = str(err)
    rec: Json = {"name": name, "code": code, "message": message}
    for key, attr in ERROR_EXTRAS:
        value = getattr(err, attr, None)
        if value is None or value is UNDEFINED:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"  # String(true), as executor.mjs writes it
        elif not isinstance(value, (str, int, float)):
            value = str(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        rec[key] = value
    return rec


def is_undefined(value: Any) -> bool:
    return value is UNDEFINED


def encode(value: Any, receiver: Any = None, depth: int = 0, seen: set[int] | None = None) -> Any:
    """A returned value as JSON, the way executor.mjs encode() writes the JS value."""
    if receiver is not None and value is receiver:
        return "$this"
    if is_undefined(value):
        return {"$undefined": True}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$number": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if callable(value) and not hasattr(value, "__dict__"):
        return None  # functions are dropped, as in JS
    if isinstance(value, bytes):
        return {"$bytes": b64(value)}
    if isinstance(value, (bytearray, memoryview)):
        return {"$u8": b64(bytes(value))}
    if isinstance(value, BaseException):
        return error_record(value)
    if depth >= MAX_ENCODE_DEPTH:
        return "$depth"
    seen = seen if seen is not None else set()
    if id(value) in seen:
        return "$circular"
    seen.add(id(value))
    try:
        return _encode_container(value, receiver, depth, seen)
    finally:
        seen.discard(id(value))


def _encode_container(value: Any, receiver: Any, depth: int, seen: set[int]) -> Any:
    sub = depth + 1
    if isinstance(value, (list, tuple)):
        return [encode(v, receiver, sub, seen) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v, receiver, sub, seen) for k, v in value.items()}
    if isinstance(value, Headers):
        return {"$headers": [[k, v] for k, v in value.items()]}
    # Any other object: its public, non-callable attributes under Node's names.
    out: Json = {}
    try:
        attrs = dict(vars(value))
    except TypeError:
        return None
    for key, v in attrs.items():
        if key.startswith("_") or callable(v):
            continue
        out[camel(key)] = encode(v, receiver, sub, seen)
    return out


def encode_return(value: Any, receiver: Any) -> Any:
    """What a method call returned. A Python method that returns nothing gives None where
    the JS method gives undefined (no node:http op returns null), so None is undefined here."""
    return {"$undefined": True} if value is None else encode(value, receiver)


def plain(value: Any) -> Any:
    """Observed properties: like encode, but undefined becomes null."""
    if is_undefined(value):
        return None
    try:
        return encode(value)
    except Exception as exc:  # noqa: BLE001 - a property that cannot be read is data
        return {"$error": error_record(exc)}


def read_attr(obj: Any, node_name: str) -> Any:
    """obj[nodeName] read from the reference: the snake_case attribute, null when absent."""
    if obj is None:
        return None
    try:
        value = getattr(obj, snake(node_name))
    except Exception:  # noqa: BLE001 - absent or throwing: null, as readProp does
        return None
    return plain(value)


def to_bytes(chunk: Any) -> bytes:
    """A 'data' chunk as bytes (strings from set_encoding are re-encoded as UTF-8)."""
    if isinstance(chunk, str):
        return chunk.encode("utf-8", "surrogatepass")
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    return str(chunk).encode("utf-8")


def chunk_type(chunk: Any) -> str:
    """The JS constructor name of a chunk (SCENARIO.md chunks[].type)."""
    if isinstance(chunk, str):
        return "string"
    if isinstance(chunk, bytes):
        return "Buffer"
    if isinstance(chunk, (bytearray, memoryview)):
        return "Uint8Array"
    if chunk is None:
        return "null"
    if is_undefined(chunk):
        return "undefined"
    return type(chunk).__name__
