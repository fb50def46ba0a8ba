"""Load and validate specs/*.yaml and cases/**/*.yaml.

Four layers of checks, each failing with file:line, behavior id and what is wrong:
YAML syntax (and duplicate keys), the JSON Schema (spec.schema.json, case.schema.json)
on the file as written, then, on each behavior with its short forms expanded
(harness/spec/defaults.py), the scenario vocabulary (harness/drivers/vocabulary.json: ops, their fields and argument
counts, calls, timeout_ms; events and props named in `expect`), and cross-references
(unique ids, $given names defined, operators known, strategies known, one check per
assertion, cases naming real behaviors and all their inputs).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from harness.spec.assertions import CHECKS
from harness.spec.cache import cached
from harness.spec.defaults import ShortFormError, expand_behavior
from harness.spec.expr import OPERATORS, operator_of, references
from harness.spec.model import Behavior, Case, FetchBacked, Written
from harness.spec.observed_names import assertion_problems
from harness.spec.yaml_source import Located, SpecError, load_located
from harness.vocabulary import scenario_problems

_HERE = Path(__file__).parent
# Files in specs/ that hold no behaviors: the API surface and Node's test list (harness/spec/surface.py),
# and the named causes of failures (harness/spec/causes.py).
NOT_BEHAVIOR_FILES = frozenset({"api-surface.yaml", "node-tests.yaml", "causes.yaml"})


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((_HERE / name).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _schema_check(doc: Located, schema: str) -> None:
    errors = sorted(_validator(schema).iter_errors(doc.data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    path = list(err.absolute_path)
    behavior = None
    if len(path) >= 2 and path[0] in ("behaviors", "cases") and isinstance(doc.data, dict):
        try:
            entry = doc.data[path[0]][path[1]]
            behavior = entry.get("id") or entry.get("behavior")
        except (IndexError, KeyError, TypeError, AttributeError):
            behavior = None
    where = "/".join(str(p) for p in path) or "(top level)"
    raise SpecError(doc.path, doc.line_of(path), f"{where}: {err.message}", behavior)


def _check_assertions(doc: Located, keys: list[Any], items: list[dict[str, Any]], names: set[str],
                      bid: str, kind: str) -> None:
    for i, assertion in enumerate(items):
        checks = [k for k in assertion if k in CHECKS]
        if len(checks) != 1:
            raise SpecError(doc.path, doc.line_of([*keys, i]),
                            f"an assertion needs exactly one check of {sorted(CHECKS)}, found {checks}", bid)
        _check_refs(doc, [*keys, i], assertion, names, bid)
        problems = assertion_problems(assertion, kind)
        if problems:
            raise SpecError(doc.path, doc.line_of([*keys, i]), "; ".join(problems), bid)


def _is_expression(value: Any) -> bool:
    """A value of the template that only evaluation decides (the vocabulary leaves it alone)."""
    return operator_of(value) in OPERATORS


def _check_vocabulary(doc: Located, keys: list[Any], scenario: dict[str, Any], bid: str) -> None:
    problems = scenario_problems(scenario, opaque=_is_expression, tags=False)
    if problems:
        where, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        path = ".".join(str(k) for k in ("scenario", *where))
        raise SpecError(doc.path, doc.line_of([*keys, *where]), f"{path}: {message}{more}", bid)


def _check_refs(doc: Located, keys: list[Any], expr: Any, names: set[str], bid: str) -> None:
    used, unknown = references(expr)
    if unknown:
        raise SpecError(doc.path, doc.line_of(keys), f"unknown operator(s) {sorted(unknown)}", bid)
    missing = used - names
    if missing:
        raise SpecError(doc.path, doc.line_of(keys),
                        f"$given refers to {sorted(missing)}, not defined in `given`", bid)


# The ports a spec may have a server listen on (a real socket; 0 is the system's pick): below
# Linux's ephemeral range (32768-60999 by default, 30000-65535 in .ci/run), so no connection
# takes one meanwhile, and above the apps' (harness/apps/serve.py) (README "Ports").
FIXED_LISTEN_PORTS = range(20000, 30000)


def _port_values(value: Any, given: dict[str, Any]) -> list[Any] | None:
    """The ports a spec's port field may take: a number, or an input drawn as one_of or
    integers (its bounds); None when it is not a port number (a path, options)."""
    name = value.get("$given") if isinstance(value, dict) else None
    spec = given.get(name, {}) if isinstance(name, str) else {}
    if isinstance(value, int) and not isinstance(value, bool):
        return [value] if value else []
    if "one_of" in spec:
        return list(spec["one_of"])
    if spec.get("strategy") == "integers":
        return [spec.get("min_value"), spec.get("max_value")]
    return None


def _check_fixed_ports(doc: Located, keys: list[Any], scenario: dict[str, Any], given: dict[str, Any],
                       bid: str) -> None:
    # Imported here: the scenario module imports the spec package.
    from harness.scenario import listens_on_fixed_port

    if not listens_on_fixed_port(scenario):
        return  # listen(0), or a routing key of the Workers bridge, not a socket
    lo, hi = FIXED_LISTEN_PORTS.start, FIXED_LISTEN_PORTS.stop - 1
    fields: list[tuple[Any, list[Any]]] = [
        (server.get("listen"), [*keys, "servers", i, "listen"]) for i, server in enumerate(scenario.get("servers") or [])]
    client = scenario.get("client") or {}
    requests = [(client, [*keys, "client"])] + [
        (r, [*keys, "client", "then", i]) for i, r in enumerate(client.get("then") or [])]
    for request, where in requests:
        for j, arg in enumerate(request.get("args") or [] if isinstance(request, dict) else []):
            if isinstance(arg, dict) and "localPort" in arg:
                fields.append((arg["localPort"], [*where, "args", j, "localPort"]))
    for value, where in fields:
        ports = _port_values(value, given)
        if ports is not None and not all(isinstance(p, int) and lo <= p <= hi for p in ports):
            raise SpecError(doc.path, doc.line_of(where),
                            f"a fixed port (listen, localPort) must lie in {lo}-{hi} (got {ports}): below the "
                            "ephemeral range, above the apps' ports", bid)


def load_spec_file(path: Path) -> list[Behavior]:
    return cached("spec", path, _load_spec_file)


def _load_spec_file(path: Path) -> list[Behavior]:
    from harness.strategies import check_input  # strategies import the spec model, not the reverse

    doc = load_located(path)
    _schema_check(doc, "spec.schema.json")
    out: list[Behavior] = []
    for i, written in enumerate(doc.data["behaviors"]):
        keys: list[Any] = ["behaviors", i]
        bid = written["id"]
        try:
            raw = expand_behavior(written)  # short forms (harness/spec/defaults.py) -> the long form
        except ShortFormError as exc:
            raise SpecError(path, doc.line_of([*keys, *exc.keys]), exc.message, bid) from None
        given = raw.get("given") or {}
        names = set(given)
        for name, spec in given.items():
            problem = check_input(spec)
            if problem:
                raise SpecError(path, doc.line_of([*keys, "given", name]), f"input {name!r}: {problem}", bid)
        _check_refs(doc, [*keys, "scenario"], raw["scenario"], names, bid)
        _check_vocabulary(doc, [*keys, "scenario"], raw["scenario"], bid)
        _check_fixed_ports(doc, [*keys, "scenario"], raw["scenario"], given, bid)
        kind = raw["scenario"]["kind"]
        _check_assertions(doc, [*keys, "expect"], raw["expect"], names, bid, kind)
        fb = raw.get("fetch_backed")
        variant = None
        if fb:
            fb_keys = [*keys, "fetch_backed", "expect"]
            _check_assertions(doc, fb_keys, fb["expect"], names, bid, kind)
            variant = FetchBacked(**fb, expect_written=_written(doc, fb_keys, fb["expect"]))
        behavior = Behavior(
            id=bid, title=raw["title"], feature=raw.get("feature", doc.data["feature"]),
            level=raw["level"], catalogue=list(raw["catalogue"]), node=raw.get("node") or {},
            given=given, scenario=raw["scenario"], expect=raw["expect"],
            fetch_backed=variant, source=_rel(path),
            line=doc.line_of(keys), max_examples=raw.get("max_examples"), notes=raw.get("notes", ""),
            expect_written=_written(doc, [*keys, "expect"], raw["expect"]),
        )
        out.extend(expand_apps(behavior) if behavior.kind == "app" else [behavior])
    return out


def expand_apps(behavior: Behavior) -> list[Behavior]:
    """An app behavior written once for several apps (`scenario.apps`) is one behavior per
    app: id `apps.<app>.<rest>` from `apps.<rest>`, feature `apps.<app>` (its matrix
    section), and `scenario.app` naming it."""
    from harness.apps.layout import names  # the apps on disk, not the spec model, know their names

    if not behavior.id.startswith("apps."):
        raise SpecError(behavior.source, behavior.line, "an app behavior's id starts with 'apps.'", behavior.id)
    known = names()
    out = []
    for app in behavior.scenario["apps"]:
        if app not in known:
            raise SpecError(behavior.source, behavior.line,
                            f"unknown app {app!r}; apps/ holds {', '.join(known) or 'none'}", behavior.id)
        scenario = {k: v for k, v in behavior.scenario.items() if k != "apps"}
        out.append(dataclasses.replace(
            behavior, id=f"apps.{app}.{behavior.id.removeprefix('apps.')}", feature=f"apps.{app}",
            scenario={**scenario, "app": app}, cases=[]))
    return out


_SHOWN_LINES = 12  # of an expect entry's YAML in a failure; the file has the rest


def _written(doc: Located, keys: list[Any], entries: list[Any]) -> tuple[Written, ...]:
    """file:line and YAML text of each of the entries at keys (the failing line of a FAIL)."""
    out = []
    for i in range(len(entries)):
        line, text = doc.snippet([*keys, i]) or (None, "")
        lines = text.splitlines()
        if len(lines) > _SHOWN_LINES:
            text = "\n".join([*lines[:_SHOWN_LINES], "  ..."])
        out.append(Written(_rel(doc.path), line, text))
    return tuple(out)


def load_case_file(path: Path) -> list[Case]:
    return cached("case", path, _load_case_file)


def _load_case_file(path: Path) -> list[Case]:
    doc = load_located(path)
    _schema_check(doc, "case.schema.json")
    return [
        Case(behavior=c["behavior"], name=c["name"], given=c["given"], source=_rel(path),
             line=doc.line_of(["cases", i]))
        for i, c in enumerate(doc.data["cases"])
    ]


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def attach_cases(behaviors: list[Behavior], cases: Iterable[Case]) -> None:
    """Give each behavior its named cases; a case for an unknown behavior or with the
    wrong inputs is a SpecError pointing at the case."""
    by_id = {b.id: b for b in behaviors}
    seen: set[tuple[str, str]] = set()
    for case in cases:
        behavior = by_id.get(case.behavior)
        if behavior is None:
            raise SpecError(case.source, case.line, f"case {case.name!r} names unknown behavior", case.behavior)
        if (case.behavior, case.name) in seen:
            raise SpecError(case.source, case.line, f"duplicate case name {case.name!r}", case.behavior)
        seen.add((case.behavior, case.name))
        missing = set(behavior.given) - set(case.given)
        extra = set(case.given) - set(behavior.given)
        if missing or extra:
            raise SpecError(case.source, case.line,
                            f"case {case.name!r}: inputs missing {sorted(missing)}, unknown {sorted(extra)}",
                            case.behavior)
        behavior.cases.append(case)


def check_unique(behaviors: list[Behavior]) -> None:
    seen: dict[str, Behavior] = {}
    for b in behaviors:
        if b.id in seen:
            raise SpecError(b.source, b.line, f"duplicate behavior id (first at {seen[b.id].location})", b.id)
        seen[b.id] = b


def load_all(specs_dir: Path, cases_dir: Path | None = None) -> list[Behavior]:
    """Every behavior in specs_dir/*.yaml with its cases from cases_dir/**/*.yaml."""
    behaviors: list[Behavior] = []
    for path in sorted(specs_dir.glob("*.yaml")):
        if path.name not in NOT_BEHAVIOR_FILES:
            behaviors.extend(load_spec_file(path))
    check_unique(behaviors)
    if cases_dir is not None and cases_dir.is_dir():
        cases = [c for p in sorted(cases_dir.rglob("*.yaml")) for c in load_case_file(p)]
        attach_cases(behaviors, cases)
    return behaviors
