"""The short forms of the spec format, expanded as a behavior is loaded.

Specs are written short; everything after the loader (lint's vocabulary and reference
checks, the scenario builder, the executors, the verdict) sees the long form, so the
scenario contract (harness/SCENARIO.md) does not know the short forms exist:

- `=name` (a string) is `{$given: name}`, `=creds.user` is `{$given: creds.user}`. A
  string that starts with `=` must name an input of `given`: any other is a spec error
  (write `{$literal: "=..."}` for such text), so the two readings never mix.
- A client scenario without `origin` has a plain 200 origin (`DEFAULT_ORIGIN`).
- A client scenario without `client` makes one request with the defaults below: a
  request without `call` is `request`, without `args` `[{path: /}]`.
- A client request (`client`, and each request of `client.then`) whose first argument is
  an options mapping naming none of host, hostname, port, socketPath is aimed at the
  origin (`host: {$origin_host: true}, port: {$origin_port: true}`); so is each options
  mapping an `$if` there chooses between. A request without `ops` is just ended
  (`ops: [{op: end}]`), except a `get` call, which ends the request itself.
"""

from __future__ import annotations

import copy
from typing import Any

GIVEN_PREFIX = "="
DEFAULT_ORIGIN: dict[str, Any] = {"responses": [{"status": 200, "framing": "content-length"}]}
ORIGIN_ADDRESS: dict[str, Any] = {"host": {"$origin_host": True}, "port": {"$origin_port": True}}
DEFAULT_ARGS: list[dict[str, Any]] = [{"path": "/"}]
DEFAULT_OPS: list[dict[str, Any]] = [{"op": "end"}]
# Options that say where a request goes: with any of them written, no address is added.
_ADDRESS_KEYS = frozenset({"host", "hostname", "port", "socketPath"})
# Assertion fields that are not expressions (a path, free text, cause ids, a regex).
_NOT_EXPRESSIONS = frozenset({"at", "because", "cause", "matches"})


class ShortFormError(ValueError):
    """A short form that cannot be read: `keys` is its path inside the behavior."""

    def __init__(self, keys: list[Any], message: str):
        super().__init__(message)
        self.keys = keys
        self.message = message


def expand_behavior(written: dict[str, Any]) -> dict[str, Any]:
    """The behavior in long form (a new mapping; `written` is left as it is)."""
    names = set(written.get("given") or {})
    out = dict(written)
    out["scenario"] = with_defaults(expand_given(written["scenario"], names, ["scenario"]))
    out["expect"] = _assertions(written["expect"], names, ["expect"])
    fb = written.get("fetch_backed")
    if isinstance(fb, dict) and isinstance(fb.get("expect"), list):
        out["fetch_backed"] = {**fb, "expect": _assertions(fb["expect"], names, ["fetch_backed", "expect"])}
    return out


def _assertions(entries: list[Any], names: set[str], keys: list[Any]) -> list[Any]:
    return [
        {k: v if k in _NOT_EXPRESSIONS else expand_given(v, names, [*keys, i, k]) for k, v in entry.items()}
        if isinstance(entry, dict) else entry
        for i, entry in enumerate(entries)
    ]


def expand_given(value: Any, names: set[str], keys: list[Any]) -> Any:
    """`=name` -> `{$given: name}` anywhere in value except inside `$literal`."""
    if isinstance(value, str) and value.startswith(GIVEN_PREFIX):
        name = value[len(GIVEN_PREFIX):]
        if name.split(".")[0] not in names:
            known = ", ".join(sorted(names)) or "none"
            raise ShortFormError(keys, f"{value!r}: a string starting with {GIVEN_PREFIX!r} names an input of "
                                       f"`given` ({known}); for that text write {{$literal: {value!r}}}")
        return {"$given": name}
    if isinstance(value, dict):
        if list(value) == ["$literal"]:
            return value
        return {k: expand_given(v, names, [*keys, k]) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_given(v, names, [*keys, i]) for i, v in enumerate(value)]
    return value


def with_defaults(scenario: Any) -> Any:
    """A client scenario with its origin and requests' defaults filled in."""
    if not isinstance(scenario, dict) or scenario.get("kind") != "client":
        return scenario
    out = dict(scenario)
    out.setdefault("origin", copy.deepcopy(DEFAULT_ORIGIN))
    client = out.setdefault("client", {})
    if isinstance(client, dict):
        client = _request_defaults(client)
        then = client.get("then")
        if isinstance(then, list):
            client["then"] = [_request_defaults(r) if _is_mapping(r) else r for r in then]
        out["client"] = client
    return out


def _request_defaults(request: dict[str, Any]) -> dict[str, Any]:
    out = {"call": "request", "args": copy.deepcopy(DEFAULT_ARGS), **request}
    args = out["args"]
    if isinstance(args, list) and args:
        out["args"] = [_aimed_at_origin(args[0]), *args[1:]]
    if "ops" not in out and out.get("call") != "get":
        out["ops"] = copy.deepcopy(DEFAULT_OPS)
    return out


def _aimed_at_origin(options: Any) -> Any:
    if _is_mapping(options) and not _ADDRESS_KEYS & set(options):
        return {**copy.deepcopy(ORIGIN_ADDRESS), **options}
    branches = options.get("$if") if isinstance(options, dict) and len(options) == 1 else None
    if isinstance(branches, list) and len(branches) == 3:
        return {"$if": [branches[0], *(_aimed_at_origin(b) for b in branches[1:])]}
    return options


def _is_mapping(value: Any) -> bool:
    """A literal mapping, not an expression or tag (a one-key mapping whose key starts with `$`)."""
    return isinstance(value, dict) and not (len(value) == 1 and str(next(iter(value))).startswith("$"))
