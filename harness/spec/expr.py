"""The declarative expression language used inside specs.

A spec never contains code. Where a value depends on the generated inputs or on what
was observed, it is written as a one-key mapping whose key starts with `$`:
`{$given: name}`, `{$upper: {$given: method}}`, `{$b64: {$utf8: ...}}`. This module
evaluates those (pure functions, no I/O) and lists, for the linter, which names an
expression refers to.

Scenario tags (`$bytes`, `$undefined`, `$agent`, `$origin_url`, ...; the list is
harness/drivers/vocabulary.json's) are not operators: their contents are evaluated and
the tag is kept, so the scenario stays JSON for the target to decode (see harness/SCENARIO.md).
"""

from __future__ import annotations

import base64
import functools
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.vocabulary import load as vocabulary

# Tags that pass through evaluation (contents evaluated, tag kept); $bytes is also an
# operator (its value becomes bytes, which the scenario builder tags again).
SCENARIO_TAGS = vocabulary().tags() - {"$bytes"}


class ExprError(ValueError):
    """An expression that cannot be evaluated (unknown operator, bad argument, missing name)."""


_MISSING = object()


# isinstance(x, Mapping) is a Python-level ABC call; a dict (what specs and JSON hold) is
# recognised first, in C. Values of these types are never containers.
MAPPING = (dict, Mapping)
SCALARS = (str, int, float, bool, type(None))


class Pairs(dict[str, Any]):
    """A mapping $object built: its keys are data (generated names), so a lone key that
    starts with `$` is no tag; a scenario sends it to the targets as {"$plain": ...}."""


def _runs(parts: Sequence[Any]) -> tuple[tuple[str, ...], ...]:
    """runs[i][k] is ".".join(parts[i:i + k + 1]): the keys a path may name from part i."""
    return tuple(tuple(".".join(str(p) for p in parts[i:j]) for j in range(i + 1, len(parts) + 1))
                 for i in range(len(parts)))


@functools.lru_cache(maxsize=4096)
def _dotted(path: str) -> tuple[list[str], tuple[tuple[str, ...], ...]]:
    parts = path.split(".")
    return parts, _runs(parts)


def get_path(data: Any, path: str | list[Any]) -> Any:
    """Follow a dotted path (`a.b.0.c`, negative indices allowed). Returns _MISSING if absent."""
    parts, runs = _dotted(path) if isinstance(path, str) else (path, _runs(path))
    cur = data
    i = 0
    while i < len(parts):
        if isinstance(cur, MAPPING):
            # Keys may hold dots themselves (props like "req.socket.encrypted"): the
            # longest run of the remaining parts that names a key wins.
            for k in range(len(runs[i]) - 1, -1, -1):
                if runs[i][k] in cur:
                    cur, i = cur[runs[i][k]], i + k + 1
                    break
            else:
                return _MISSING
            continue
        if isinstance(cur, list | tuple | str | bytes):
            try:
                cur = cur[int(parts[i])]
            except (ValueError, IndexError):
                return _MISSING
            i += 1
            continue
        return _MISSING
    return cur


def is_missing(value: Any) -> bool:
    return value is _MISSING


def _bytes_of(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ExprError(f"expected text or bytes, got {type(value).__name__}")


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ExprError(f"expected text, got {type(value).__name__}")


def _concat(items: list[Any]) -> Any:
    if any(isinstance(i, bytes) for i in items):
        return b"".join(_bytes_of(i) for i in items)
    if all(isinstance(i, list) for i in items):
        return [x for i in items for x in i]
    return "".join(_text_of(i) for i in items)


# Characters kept as-is in URL userinfo (WHATWG userinfo percent-encode set, inverted).
_USERINFO_SAFE = "!$&'()*+,;=-._~"

_UNARY: dict[str, Callable[[Any], Any]] = {
    "$upper": lambda v: _text_of(v).upper(),
    "$lower": lambda v: _text_of(v).lower(),
    "$str": _text_of,
    "$utf8": lambda v: _text_of(v).encode("utf-8"),
    "$latin1": lambda v: _text_of(v).encode("latin-1"),
    "$decode_latin1": lambda v: _bytes_of(v).decode("latin-1"),
    "$b64": lambda v: base64.b64encode(_bytes_of(v)).decode("ascii"),
    "$len": lambda v: len(v),
    "$bytes_len": lambda v: len(_bytes_of(v)),
    "$not": lambda v: not v,
    "$pct_userinfo": lambda v: urllib.parse.quote(_text_of(v), safe=_USERINFO_SAFE),
    "$pct_path": lambda v: urllib.parse.quote(_text_of(v), safe="/!$&'()*+,;=:@-._~"),
    "$keys": lambda v: list(v.keys()),
    "$first": lambda v: v[0] if v else None,
    "$last": lambda v: v[-1] if v else None,
    "$lower_pairs": lambda v: [[_text_of(k).lower(), x] for k, x in v],
    "$names": lambda v: [k for k, _ in v],
    "$flat": lambda v: [x for pair in v for x in pair],
    "$hex": lambda v: _bytes_of(v).hex(),
    "$trim": lambda v: _text_of(v).strip(" \t"),
}


def _nary(name: str, args: list[Any]) -> Any:
    if name == "$concat":
        return _concat(args)
    if name == "$join":
        seq, sep = args
        return _text_of(sep).join(_text_of(x) for x in seq)
    if name == "$object":
        return Pairs((_text_of(k), v) for k, v in args)
    if name == "$add":
        return sum(args)
    if name == "$sub":
        a, b = args
        return a - b
    if name == "$eq":
        a, b = args
        return a == b
    if name == "$gt":
        a, b = args
        return a > b
    if name == "$and":
        return all(args)
    if name == "$or":
        return any(args)
    if name == "$if":
        cond, then, other = args
        return then if cond else other
    if name == "$get":
        container, key = args
        value = get_path(container, [key]) if not isinstance(key, str) else get_path(container, [key])
        return None if value is _MISSING else value
    if name == "$repeat":
        value, count = args
        return value * count
    if name == "$slice":
        value, start, end = args
        return value[start:end]
    if name == "$count":
        # [list, item]: how many elements equal item (event_names: how often an event fired).
        seq, item = args
        return sum(1 for x in seq if x == item)
    if name == "$where":
        # [pairs, name]: values of the pairs whose name matches, case-insensitively.
        pairs, key = args
        return [v for k, v in pairs if _text_of(k).lower() == _text_of(key).lower()]
    raise ExprError(f"unknown operator {name}")


_NARY = frozenset({"$concat", "$join", "$object", "$add", "$sub", "$eq", "$gt", "$and",
                   "$or", "$if", "$get", "$repeat", "$slice", "$where", "$count"})
_REFS = frozenset({"$given", "$obs"})
OPERATORS = frozenset(_UNARY) | _NARY | _REFS | {"$bytes", "$literal"}


def operator_of(value: Any) -> str | None:
    """The `$name` if value is a one-key mapping whose key starts with `$`."""
    if isinstance(value, MAPPING) and len(value) == 1:
        key = next(iter(value))
        if isinstance(key, str) and key.startswith("$"):
            return key
    return None


def evaluate(expr: Any, given: Mapping[str, Any], obs: Any = None) -> Any:
    """Evaluate an expression tree; plain values are returned as they are (recursively)."""
    if isinstance(expr, SCALARS):
        return expr
    if isinstance(expr, list):
        return [evaluate(v, given, obs) for v in expr]
    op = operator_of(expr)
    if op is None:
        if isinstance(expr, MAPPING):
            return {k: evaluate(v, given, obs) for k, v in expr.items()}
        return expr
    arg = expr[op]
    if op == "$literal":
        return arg
    if op == "$bytes":
        if isinstance(arg, bytes):
            return arg
        return base64.b64decode(_text_of(evaluate(arg, given, obs)))
    if op in SCENARIO_TAGS:
        return {op: evaluate(arg, given, obs)}
    if op == "$given":
        value = get_path(given, _text_of(arg))
        if value is _MISSING:
            raise ExprError(f"no input named {arg!r}")
        return value
    if op == "$obs":
        value = get_path(obs, _text_of(arg))
        return None if value is _MISSING else value
    if op in _UNARY:
        return _UNARY[op](evaluate(arg, given, obs))
    if op in _NARY:
        if not isinstance(arg, list):
            raise ExprError(f"{op} takes a list of arguments")
        return _nary(op, [evaluate(a, given, obs) for a in arg])
    raise ExprError(f"unknown operator {op}")


def references(expr: Any) -> tuple[set[str], set[str]]:
    """(given names, unknown operators) used anywhere in expr, for the linter."""
    names: set[str] = set()
    unknown: set[str] = set()

    def walk(node: Any) -> None:
        op = operator_of(node)
        if op is not None:
            arg = node[op]
            if op == "$given" and isinstance(arg, str):
                names.add(arg.split(".")[0])
            elif op not in OPERATORS and op not in SCENARIO_TAGS and op != "$bytes":
                unknown.add(op)
            if op != "$literal":
                walk(arg)
            return
        if isinstance(node, Mapping):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(expr)
    return names, unknown


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def regex(pattern: str) -> re.Pattern[str]:
    if pattern not in _REGEX_CACHE:
        _REGEX_CACHE[pattern] = re.compile(pattern)
    return _REGEX_CACHE[pattern]
