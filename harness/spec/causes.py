"""specs/causes.yaml: departures from Node named once, and the `cause:` tags that use them.

A cause has an id, a title (the departure in a runtime engineer's words) and a subject: the
behavior whose subject the departure is (the reference's result there tells a fixable cause
from fetch's own). An assertion that fails because of it says `cause: <id>` (or a list, the
first that applies wins). A cause's optional `symptom` is an assertion (the spec syntax,
without $given) that must hold on the observations for the cause to apply, for an assertion
that can fail in more than one way (e.g. a wrong status text: 'unknown' is one cause).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.spec.assertions import CHECKS
from harness.spec.expr import references
from harness.spec.model import Behavior
from harness.spec.surface import _check_schema
from harness.spec.yaml_source import SpecError, load_located

CAUSES_FILE = "causes.yaml"
_SYMPTOM_KEYS = frozenset({"at", "value", "when", "because"}) | frozenset(CHECKS)


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    subject: str  # a behavior id
    symptom: dict[str, Any] | None
    source: str
    line: int | None

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}"


def tags(assertion: Mapping[str, Any]) -> list[str]:
    """The cause ids an assertion names, in order."""
    named = assertion.get("cause")
    return [named] if isinstance(named, str) else list(named or [])


def load_causes(path: Path) -> dict[str, Cause]:
    """The causes of path, by id; {} when the file does not exist."""
    if not path.is_file():
        return {}
    doc = load_located(path)
    if doc.data is None:
        return {}
    _check_schema(doc, "causes.schema.json", "id")
    causes: dict[str, Cause] = {}
    for i, raw in enumerate(doc.data):
        line = doc.line_of([i])
        if raw["id"] in causes:
            raise SpecError(path, line, f"duplicate cause id (first at {causes[raw['id']].location})", raw["id"])
        symptom = raw.get("symptom")
        if symptom is not None:
            _check_symptom(symptom, path, doc.line_of([i, "symptom"]), raw["id"])
        causes[raw["id"]] = Cause(raw["id"], raw["title"], raw["subject"], symptom, str(path), line)
    return causes


def _check_symptom(symptom: dict[str, Any], path: Path, line: int | None, cid: str) -> None:
    checks = [k for k in symptom if k in CHECKS]
    unknown = sorted(set(symptom) - _SYMPTOM_KEYS)
    used, operators = references(symptom)
    problem = (f"needs exactly one check, found {checks}" if len(checks) != 1
               else f"unknown key(s) {unknown}" if unknown
               else f"unknown operator(s) {sorted(operators)}" if operators
               else "uses $given: a symptom must hold whatever the behavior" if used
               else "needs `at` or `value`" if not {"at", "value"} & set(symptom) else "")
    if problem:
        raise SpecError(path, line, f"symptom {problem}", cid)


def check_causes(behaviors: list[Behavior], causes: Mapping[str, Cause]) -> None:
    """SpecError at the first `cause:` naming no cause, subject naming no behavior, or cause
    no assertion names."""
    ids = {b.id for b in behaviors}
    for cause in causes.values():
        if cause.subject not in ids:
            raise SpecError(cause.source, cause.line, f"subject {cause.subject!r} is not a behavior", cause.id)
    named: set[str] = set()
    for b in behaviors:
        for assertion, written in b.expect_entries():
            for cid in tags(assertion):
                if cid not in causes:
                    raise SpecError(written.source, written.line, f"cause {cid!r} is not in specs/{CAUSES_FILE}",
                                    b.id)
                named.add(cid)
    for cause in causes.values():
        if cause.id not in named:
            raise SpecError(cause.source, cause.line, "no assertion names this cause (`cause:` in an expect entry)",
                            cause.id)

