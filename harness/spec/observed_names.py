"""Lint for the names an `expect` reads: events and client props, against the vocabulary.

`event_names` (and `handler.`, `more.<i>.`, `requests.<i>.`, `servers.<i>.`, `agents.<id>.`
ones), `events_by.<src:name>`, `servers.<i>.events.<j>.name` and `props.<name>` may only name
what an executor can record (harness/drivers/vocabulary.json): a misspelt event would
otherwise make an assertion that silently never holds, or never fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from harness.spec.expr import operator_of
from harness.vocabulary import load

# Checks whose argument lists event names when the subject is an event list.
_NAME_CHECKS = ("equals", "not_equals", "one_of", "contains", "not_contains", "contains_all", "subsequence",
                "starts_with")
_INDEX = re.compile(r"^-?\d+$")


def _split(path: str, kind: str) -> tuple[str | None, list[str]]:
    """(event scope, the rest of the path) for a path into the observation views; the
    scope is None where the path does not reach events of the scenario's own."""
    parts = path.split(".")
    if kind == "client" and len(parts) >= 2 and parts[0] == "more" and _INDEX.match(parts[1]):
        parts = parts[2:]
    head = parts[0] if parts else ""
    if kind == "server" and head == "handler":
        return "handler", parts[1:]
    if kind == "server" and head in ("requests", "servers") and len(parts) >= 2 and _INDEX.match(parts[1]):
        return ("handler" if head == "requests" else "server"), parts[2:]
    if head == "agents" and len(parts) >= 2:
        return "agent", parts[2:]
    return (kind if kind == "client" else None), parts


def _names(scope: str, bare: bool = False) -> tuple[set[str], bool]:
    """The names an event list of `scope` may hold, and whether they read "src:name" (the
    `event_names` of a scope with several sources; `bare`: the `name` of an event)."""
    sources = load().event_scope(scope)
    if bare or len(sources) == 1:
        return {name for names in sources.values() for name in names}, False
    return {f"{src}:{name}" for src, names in sources.items() for name in names}, True


def _event_subject(rest: list[str]) -> str | None:
    """"list" when the subject is an event_names list or entry, "bare" for events.<i>.name."""
    if rest[:1] == ["event_names"] and (len(rest) == 1 or (len(rest) == 2 and _INDEX.match(rest[1]))):
        return "list"
    if len(rest) == 3 and rest[0] == "events" and _INDEX.match(rest[1]) and rest[2] == "name":
        return "bare"
    return None


def path_problem(path: str, kind: str) -> str | None:
    """What is wrong with the event or prop a path names (None if nothing or not such a path)."""
    scope, rest = _split(path, kind)
    if scope is None:
        if rest[:1] in (["event_names"], ["events_by"]):
            return f"{path}: a {kind} scenario has no top-level events (see specs/README.md, Paths)"
        return None
    if rest[:1] == ["events_by"] and len(rest) >= 2:
        names, _ = _names(scope)
        if rest[1] not in names:
            return f"{path}: no event {rest[1]!r} is recorded there (known: {', '.join(sorted(names))})"
    if rest[:1] == ["props"] and scope == "client" and len(rest) >= 2:
        props = load().client_props
        key = ".".join(rest[1:])
        if not any(key == p or key.startswith(p + ".") for p in props):
            return f"{path}: no client prop {key!r} (known: {', '.join(props)})"
    return None


def _obs_paths(expr: Any) -> Iterator[str]:
    op = operator_of(expr)
    if op == "$obs" and isinstance(expr[op], str):
        yield expr[op]
    elif op == "$literal":
        return
    elif isinstance(expr, Mapping):
        for value in expr.values():
            yield from _obs_paths(value)
    elif isinstance(expr, list):
        for value in expr:
            yield from _obs_paths(value)


def _literal_strings(value: Any) -> Iterator[str]:
    """The strings written literally in a check's argument (expressions are not judged)."""
    op = operator_of(value)
    if op == "$literal":
        yield from _literal_strings(value[op])
    elif op is None and isinstance(value, str):
        yield value
    elif op is None and isinstance(value, list):
        for item in value:
            yield from _literal_strings(item)


def assertion_problems(assertion: Mapping[str, Any], kind: str) -> list[str]:
    """Problems with the events and props one assertion names."""
    problems: list[str] = []
    subjects = [assertion["at"]] if isinstance(assertion.get("at"), str) else []
    paths = subjects + list(_obs_paths(dict(assertion)))
    problems += [p for p in (path_problem(path, kind) for path in paths) if p]
    listing = [(path, scope, how) for path in subjects or list(_obs_paths(assertion.get("value")))
               for scope, rest in [_split(path, kind)]
               if scope is not None and (how := _event_subject(rest)) is not None]
    if len(listing) == 1:
        path, scope, how = listing[0]
        names, with_src = _names(scope, bare=how == "bare")
        for check in _NAME_CHECKS:
            for name in _literal_strings(assertion.get(check)):
                if name not in names:
                    form = " (names there read src:name)" if with_src else ""
                    problems.append(f"{check}: {path} never holds {name!r}{form}")
    return problems
