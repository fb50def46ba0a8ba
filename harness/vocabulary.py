"""The scenario vocabulary (harness/drivers/vocabulary.json) for the Python side.

The one list of ops, calls, events, props, tags and timing constants, shared with the
JavaScript executor (harness/drivers/vocabulary.mjs reads the same file). `scenario_problems`
is the check both `python -m harness lint` (on a spec's template, expressions left alone)
and the impl executor (on the concrete scenario) run; harness/drivers/vocabulary.mjs
applies the same rules in JavaScript.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FILE = Path(__file__).parent / "drivers" / "vocabulary.json"
Keys = tuple[str | int, ...]
Problem = tuple[Keys, str]  # where in the scenario, what is wrong
_PATH = re.compile(r"(?:req|res)(?:\.[A-Za-z_$][A-Za-z0-9_$]*)?")  # op field kind "path"


@dataclass(frozen=True)
class Op:
    name: str
    lists: tuple[str, ...]  # the op lists it may appear in
    fields: dict[str, str]  # field -> kind (vocabulary.json "op_fields")
    optional: frozenset[str]
    receiver: str | None  # method ops: what the method is called on
    method: str | None
    args: tuple[int, int] | None  # method ops: (min, max) number of args
    names: tuple[str, ...]  # what a field of kind "name" may be
    strict_names: bool  # the executors, too, refuse a name not in `names`
    callback: bool  # the executor appends a callback, recorded as the event <method>_cb
    error_arg: bool  # a string first argument means new Error(arg)
    event_src: str = "req"  # the source its `event` field names when it has no `src`


@dataclass(frozen=True)
class Vocabulary:
    raw: dict[str, Any]
    ops: dict[str, Op]
    # scope -> source -> event names (callback events included)
    events: dict[str, dict[str, frozenset[str]]]

    def timing(self, name: str) -> float:
        return float(self.raw["timing"][name]["value"])

    @property
    def op_lists(self) -> dict[str, list[str]]:
        return {name: list(entry["at"]) for name, entry in self.raw["op_lists"].items()}

    def calls(self, kind: str) -> list[str]:
        return [name for name, entry in self.raw["calls"].items() if entry["kind"] == kind]

    def tags(self, by: str | None = None) -> frozenset[str]:
        return frozenset(t for t, entry in self.raw["tags"].items() if by is None or entry["by"] == by)

    @property
    def client_props(self) -> dict[str, dict[str, str]]:
        return dict(self.raw["client_props"])

    def event_scope(self, scope: str) -> dict[str, frozenset[str]]:
        return self.events.get(scope, {})


def _op(name: str, entry: dict[str, Any]) -> Op:
    receiver = entry.get("on")
    lists = tuple(entry["lists"])
    if receiver is not None:
        lo, hi = entry["args"]
        return Op(name, lists, {"args": "list"}, frozenset({"args"}), receiver, name.rsplit(".", 1)[-1],
                  (int(lo), int(hi)), (), False, bool(entry.get("callback")), bool(entry.get("error_arg")))
    return Op(name, lists, dict(entry["fields"]), frozenset(entry.get("optional", ())), None, None, None,
              tuple(entry.get("names", ())), bool(entry.get("strict_names")), False, False,
              str(entry.get("event_src", "req")))


@cache
def load(path: Path = FILE) -> Vocabulary:
    raw = json.loads(path.read_text(encoding="utf-8"))
    receivers = raw["receivers"]
    ops = {name: _op(name, entry) for name, entry in raw["ops"].items()}
    events: dict[str, dict[str, set[str]]] = {}
    for scope, sources in raw["events"].items():
        for src, kinds in sources.items():
            events.setdefault(scope, {})[src] = {n for kind in kinds.values() for n in kind}
    for op in (op for op in ops.values() if op.callback and op.receiver):
        for list_name in op.lists:  # the receiver's events in that op list take "<method>_cb"
            scope, src = receivers[op.receiver]["events"][list_name]
            events[scope][src].add(f"{op.method}_cb")
    frozen = {scope: {src: frozenset(names) for src, names in sources.items()} for scope, sources in events.items()}
    return Vocabulary(raw, ops, frozen)


def timing(name: str) -> float:
    return load().timing(name)


def recorded_events(scope: str, src: str) -> list[str]:
    """The events an executor records with a plain listener (events.<scope>.<src>.recorded)."""
    return list(load().raw["events"][scope][src].get("recorded", []))


def _show(value: Any) -> str:
    """A value in a message, as JSON.stringify writes it (executor.mjs words problems alike)."""
    return json.dumps(value, ensure_ascii=False)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "null" if value is None else "object"


class _Checker:
    """Checks one scenario. `opaque(value)` says a value cannot be judged yet (lint: an
    expression of the spec language; at run time nothing is opaque)."""

    def __init__(self, vocab: Vocabulary, opaque: Callable[[Any], bool], lint: bool) -> None:
        self.v = vocab
        self.opaque = opaque
        self.lint = lint
        self.problems: list[Problem] = []

    def unknown(self, what: str, name: Any, known: Any) -> str:
        """`unknown op "endd"`; for lint with the nearest known name (executors answer without
        it, so that both executors word the same problem alike)."""
        close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1) if self.lint else []
        return f"unknown {what} {_show(name)}" + (f" (did you mean {_show(close[0])}?)" if close else "")

    def add(self, keys: Keys, message: str) -> None:
        self.problems.append((keys, message))

    def field(self, op: Op, list_name: str, field: str, kind: str, value: Any, whole: dict[str, Any]) -> str | None:
        if self.opaque(value):
            return None
        where = f"op {_show(op.name)}: `{field}`"
        if kind in ("number", "string", "list"):
            return None if _json_type(value) == kind else f"{where} must be a {kind}, got {_show(value)}"
        if kind == "name" and not (self.lint or op.strict_names):
            return None if isinstance(value, str) else f"{where} must be a string, got {_show(value)}"
        if kind == "name":
            return None if value in op.names else f"{where}: {self.unknown('name', value, op.names)} (known: {', '.join(op.names)})"
        scope = self.v.event_scope(list_name)
        if kind == "source":
            return None if value in scope else f"{where}: {self.unknown('event source', value, scope)}"
        if kind == "event":
            src = whole.get("src", op.event_src)
            if self.opaque(src) or src not in scope:
                return None  # reported for `src`
            return None if value in scope[src] else f"{where}: {self.unknown(f'{src} event', value, scope[src])}"
        if kind == "path":
            return None if isinstance(value, str) and _PATH.fullmatch(value) else (
                f"{where} must be req or res, optionally followed by one property, got {_show(value)}")
        if kind == "object":
            objects = self.v.raw["objects"]
            return None if value in objects else f"{where}: {self.unknown('object', value, objects)} (known: {', '.join(objects)})"
        return None if kind == "any" else f"{where}: the vocabulary has no field kind {kind!r}"

    def op(self, op_value: Any, list_name: str, keys: Keys) -> None:
        problem = self.op_problem(op_value, list_name)
        if problem is not None:
            self.add((*keys, *problem[0]), problem[1])

    def op_problem(self, op_value: Any, list_name: str) -> Problem | None:
        """The first thing wrong with one op (keys relative to the op), None if nothing."""
        if not isinstance(op_value, dict):
            return (), f"an op is a mapping with `op: <name>`, got {_show(op_value)}"
        name = op_value.get("op")
        if self.opaque(name):
            return None
        op = self.v.ops.get(name) if isinstance(name, str) else None
        if op is None:
            return ("op",), self.unknown("op", name, self.v.ops) + f" in {list_name} ops"
        if list_name not in op.lists:
            return ("op",), (f"op {_show(name)} is not one of the {list_name} ops "
                             f"(it goes in {' or '.join(op.lists)} ops)")
        extra = sorted(set(op_value) - {"op"} - set(op.fields))
        if extra:
            return (extra[0],), f"op {_show(name)} takes no field(s) {_show(extra)}"
        for field, kind in op.fields.items():
            if field not in op_value:
                if field not in op.optional:
                    return (), f"op {_show(name)} needs `{field}`"
                continue
            message = self.field(op, list_name, field, kind, op_value[field], op_value)
            if message is not None:
                return (field,), message
        args = op_value.get("args", [])
        if op.args is not None and isinstance(args, list) and not op.args[0] <= len(args) <= op.args[1]:
            lo, hi = op.args
            wanted = str(lo) if lo == hi else f"{lo} to {hi}"
            return ("args",), f"op {_show(name)} takes {wanted} argument(s), got {len(args)}"
        return None

    def op_list(self, value: Any, list_name: str, keys: Keys) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                if self.opaque(item):
                    self._ops_inside(item, list_name, (*keys, i))
                else:
                    self.op(item, list_name, (*keys, i))
        elif self.opaque(value):
            self._ops_inside(value, list_name, keys)
        elif value is not None:
            self.add(keys, f"{list_name} ops must be a list, got {_show(value)}")

    def _ops_inside(self, value: Any, list_name: str, keys: Keys) -> None:
        """The ops an expression holds (`$concat` / `$if` branches): every mapping with an
        `op` key in it; its other parts (conditions, inputs) are not ops."""
        if isinstance(value, dict) and "op" in value and not self.opaque(value):
            self.op(value, list_name, keys)
        elif isinstance(value, dict):
            for key, inner in value.items():
                self._ops_inside(inner, list_name, (*keys, key))
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                self._ops_inside(inner, list_name, (*keys, i))

    def tags(self, value: Any, keys: Keys) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.tags(item, (*keys, i))
        elif isinstance(value, dict):
            if len(value) == 1:
                key = next(iter(value))
                if isinstance(key, str) and key.startswith("$") and key not in self.v.tags("executor"):
                    if key in self.v.tags("runner"):
                        self.add(keys, f"runner tag {key} reached the target unresolved")
                    else:
                        self.add(keys, self.unknown("tag", key, self.v.tags()))
                    return
                if key == "$plain" and isinstance(value[key], dict):  # its keys are data
                    for k, item in value[key].items():
                        self.tags(item, (*keys, key, k))
                    return
            for k, item in value.items():
                self.tags(item, (*keys, k))


def _at(data: Any, pattern: str) -> Iterator[tuple[Keys, Any]]:
    """The values at a vocabulary path (`client.then.*.ops`), with their keys."""
    found: list[tuple[Keys, Any]] = [((), data)]
    for part in pattern.split("."):
        step: list[tuple[Keys, Any]] = []
        for keys, node in found:
            if part == "*" and isinstance(node, list):
                step.extend(((*keys, i), item) for i, item in enumerate(node))
            elif isinstance(node, dict) and part in node:
                step.append(((*keys, part), node[part]))
        found = step
    return iter(found)


def scenario_problems(scenario: Any, *, opaque: Callable[[Any], bool] | None = None,
                      tags: bool = True) -> list[Problem]:
    """What is wrong with a scenario as the vocabulary sees it: unknown op, call or tag, an op
    in the wrong list, a missing or unknown field, a wrong argument count, a bad timeout_ms.
    Lint passes `opaque` (its expressions) and tags=False (its own operator check covers
    them), and is stricter: a prop or method name must be one of the op's `names` (the
    executors read any, as Node would, unless the op has strict_names) and unknown names
    come with a suggestion."""
    vocab = load()
    check = _Checker(vocab, opaque or (lambda _v: False), lint=opaque is not None)
    if not isinstance(scenario, dict):
        return [((), "a scenario is a mapping")]
    timeout = scenario.get("timeout_ms")
    lo, hi = vocab.timing("min_timeout_ms"), vocab.timing("max_timeout_ms")
    if timeout is not None and not check.opaque(timeout) and (
            _json_type(timeout) != "number" or not lo <= timeout <= hi):
        check.add(("timeout_ms",), f"timeout_ms must be a number from {lo:g} to {hi:g}, got {_show(timeout)}")
    if scenario.get("kind") == "client":
        client_calls = vocab.calls("client")
        for pattern in ("client", "client.then.*"):
            for keys, request in _at(scenario, pattern):
                call = request.get("call") if isinstance(request, dict) else None
                if call is not None and not check.opaque(call) and call not in client_calls:
                    check.add((*keys, "call"), check.unknown("call", call, client_calls)
                              + f" (a client scenario calls {' or '.join(client_calls)})")
    for list_name, patterns in vocab.op_lists.items():
        for pattern in patterns:
            for keys, value in _at(scenario, pattern):
                check.op_list(value, list_name, keys)
    if tags:
        check.tags(scenario, ())
    return check.problems


def describe(problems: list[Problem]) -> str:
    """Problems as one line, for an executor's `detail` ("scenario: ...")."""
    return "scenario: " + "; ".join(
        (".".join(str(k) for k in keys) + ": " if keys else "") + message for keys, message in problems)
