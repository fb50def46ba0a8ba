"""Scenarios and observations as plain JSON (see harness/SCENARIO.md).

A behavior's `scenario` block is a template: it is evaluated with the generated inputs
(harness.spec.expr), then bytes are tagged as {"$bytes": b64} so the result is JSON
that any target can read. Runner-level tags ($origin_url, $origin_host, $origin_port)
are resolved once the scenario's origin is listening.
"""

from __future__ import annotations

import base64
import json
import marshal
from collections.abc import Callable, Mapping
from typing import Any

from harness.observations import Json
from harness.spec.expr import MAPPING, SCALARS, Pairs, evaluate, operator_of
from harness.spec.model import Behavior
from harness.vocabulary import timing

ORIGIN_HOST = "127.0.0.1"


def to_json(value: Any) -> Any:
    """Python values -> JSON values: bytes become {"$bytes": b64}, tuples lists, an
    $object mapping whose one key starts with `$` {"$plain": it}."""
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, MAPPING):
        out = {str(k): to_json(v) for k, v in value.items()}
        if isinstance(value, Pairs) and len(out) == 1 and next(iter(out)).startswith("$"):
            return {"$plain": out}  # data, not a tag (SCENARIO.md)
        return out
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


_LEAVES = frozenset(SCALARS)


def from_json(value: Any) -> Any:
    """JSON values -> Python values: {"$bytes": b64} becomes bytes (other tags stay).
    Leaves are passed over without a call: it runs over every example's observations."""
    kind = type(value)
    if kind is list:
        return [v if type(v) in _LEAVES else from_json(v) for v in value]
    if kind is dict or isinstance(value, MAPPING):
        if len(value) == 1 and "$bytes" in value and isinstance(value["$bytes"], str):
            return base64.b64decode(value["$bytes"])
        return {k: v if type(v) in _LEAVES else from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


Template = Callable[[Mapping[str, Any]], Any]


def _compile(template: Any) -> Template:
    """to_json(evaluate(template, inputs)) as a function of the inputs. A subtree that
    names no input is the same every time: it is evaluated once, and each call copies it
    (marshal, in C: targets may change what they are handed)."""
    if "$given" not in json.dumps(template, default=repr):
        value = to_json(evaluate(template, {}))
        if isinstance(value, SCALARS):
            return lambda _inputs: value
        try:
            frozen = marshal.dumps(value)
        except ValueError:  # not plain data: evaluated each time, as it was
            return lambda inputs: to_json(evaluate(template, inputs))
        return lambda _inputs: marshal.loads(frozen)
    if isinstance(template, list):
        items = [_compile(v) for v in template]
        return lambda inputs: [item(inputs) for item in items]
    if isinstance(template, MAPPING) and operator_of(template) is None:
        fields = [(str(k), _compile(v)) for k, v in template.items()]
        return lambda inputs: {k: field(inputs) for k, field in fields}
    return lambda inputs: to_json(evaluate(template, inputs))


# Behavior.scenario id -> (that template, kept alive so the id stays its own; its compiled form)
_COMPILED: dict[int, tuple[Any, Template]] = {}


def build(behavior: Behavior, inputs: Mapping[str, Any], example_id: str) -> Json:
    """The target-neutral scenario for one example of a behavior (origin not yet bound)."""
    cached = _COMPILED.get(id(behavior.scenario))
    if cached is None or cached[0] is not behavior.scenario:
        cached = _COMPILED[id(behavior.scenario)] = (behavior.scenario, _compile(behavior.scenario))
    scenario = cached[1](inputs)
    scenario["id"] = example_id
    scenario.setdefault("timeout_ms", int(timing("default_timeout_ms")))
    return scenario


def bind_origin(scenario: Json, port: int) -> Json:
    """Replace $origin_url / $origin_host / $origin_port with the live origin's address.
    A copy: every dict and list is rebuilt (scalars are immutable), the template stays."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                key = next(iter(node))
                # "with_port" / "string": the shapes a url.parse() object has (host:port, port text).
                if key == "$origin_host":
                    return f"{ORIGIN_HOST}:{port}" if node[key] == "with_port" else ORIGIN_HOST
                if key == "$origin_port":
                    return str(port) if node[key] == "string" else port
                if key == "$origin_url":
                    spec = node[key] or {}
                    userinfo = f"{spec['userinfo']}@" if spec.get("userinfo") else ""
                    scheme = spec.get("scheme", "http")
                    host = spec.get("host", ORIGIN_HOST)
                    return f"{scheme}://{userinfo}{host}:{port}{spec.get('path', '/')}"
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(scenario)


def listens_on_fixed_port(scenario: dict[str, Any]) -> bool:
    """Whether a scenario's server listens on a port the spec names (not 0: the system's
    choice) on a real socket, or a client request binds one (its `localPort` option): two
    targets running it at once would take the same port. Behaviors that require the Workers
    bridge use the port as a routing key only."""
    if "bridge" in scenario.get("requires", []):
        return False
    client = scenario.get("client") or {}
    for request in [client, *(client.get("then") or [])]:
        args = request.get("args") if isinstance(request, dict) else None
        ports = [a.get("localPort") for a in args if isinstance(a, dict)] if isinstance(args, list) else []
        # the origin's own port ({$origin_port}) is bound by the origin alone
        if any(p not in (None, 0) and not (isinstance(p, dict) and "$origin_port" in p) for p in ports):
            return True
    return any(server.get("listen") not in (None, 0) for server in scenario.get("servers", []))
