"""Load and validate the coverage files beside the specs.

specs/api-surface.yaml lists node:http's documented members, specs/NOT-COVERED.md gives a
reason for members no behavior exercises, and specs/node-tests.yaml maps Node's
test/parallel/test-http-*.js files to behaviors. Each problem is a SpecError with
file:line, like every other spec error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from harness.spec.loader import _validator
from harness.spec.yaml_source import Located, SpecError, load_located

SURFACE_FILE = "api-surface.yaml"
NODE_TESTS_FILE = "node-tests.yaml"
NOT_COVERED_FILE = "NOT-COVERED.md"
# A table row of NOT-COVERED.md: | `member id` | reason |
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$")


@dataclass(frozen=True)
class Member:
    id: str
    kind: str
    doc: str
    line: int | None


@dataclass(frozen=True)
class NodeTest:
    file: str
    checks: str
    behaviors: tuple[str, ...]
    not_applicable: str | None
    subject: str | None
    fetch_edge: bool
    line: int | None


@dataclass(frozen=True)
class Reason:
    text: str
    line: int


def _check_schema(doc: Located, schema: str, tag_key: str) -> None:
    """SpecError at the first schema violation, tagged with the entry's id or file name."""
    errors = sorted(_validator(schema).iter_errors(doc.data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    path = list(err.absolute_path)
    tag = None
    entry = _entry_at(doc.data, path)
    if isinstance(entry, dict) and isinstance(entry.get(tag_key), str):
        tag = entry[tag_key]
    where = "/".join(str(p) for p in path) or "(top level)"
    raise SpecError(doc.path, doc.line_of(path), f"{where}: {err.message}", tag)


def _entry_at(data: Any, path: list[Any]) -> Any:
    """The list item a schema error is in (members[i] or the i-th test file), if any."""
    if path and path[0] == "members" and isinstance(data, dict):
        data, path = data.get("members"), path[1:]
    if path and isinstance(path[0], int) and isinstance(data, list) and path[0] < len(data):
        return data[path[0]]
    return None


def load_surface(path: Path) -> list[Member]:
    doc = load_located(path)
    _check_schema(doc, "api-surface.schema.json", "id")
    members: list[Member] = []
    seen: dict[str, int | None] = {}
    for i, raw in enumerate(doc.data["members"]):
        line = doc.line_of(["members", i])
        if raw["id"] in seen:
            raise SpecError(path, line, f"duplicate member id (first at line {seen[raw['id']]})", raw["id"])
        seen[raw["id"]] = line
        members.append(Member(raw["id"], raw["kind"], raw["doc"], line))
    return members


def load_node_tests(path: Path, behavior_ids: Iterable[str]) -> list[NodeTest]:
    """The test files; every behavior they name must exist."""
    doc = load_located(path)
    if doc.data is None:
        return []
    _check_schema(doc, "node-tests.schema.json", "file")
    known = set(behavior_ids)
    tests: list[NodeTest] = []
    seen: dict[str, int | None] = {}
    for i, raw in enumerate(doc.data):
        line = doc.line_of([i])
        name = raw["file"]
        if name in seen:
            raise SpecError(path, line, f"duplicate file (first at line {seen[name]})", name)
        seen[name] = line
        unknown = [b for b in raw.get("behaviors", []) if b not in known]
        if unknown:
            raise SpecError(path, doc.line_of([i, "behaviors"]), f"unknown behavior id(s) {unknown}", name)
        tests.append(NodeTest(name, raw["checks"], tuple(raw.get("behaviors", [])), raw.get("not_applicable"),
                              raw.get("subject"), bool(raw.get("fetch_edge", False)), line))
    return tests


def load_not_covered(path: Path, member_ids: Iterable[str]) -> dict[str, Reason]:
    """Member id -> the reason no behavior exercises it. Rows must name real members."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, None, f"cannot read: {exc}") from None
    known = set(member_ids)
    reasons: dict[str, Reason] = {}
    for n, text in enumerate(lines, start=1):
        if not text.startswith("|") or set(text) <= set("|-: "):
            continue  # prose, or a table's separator row
        m = _ROW.match(text)
        if m is None:
            if text.replace(" ", "").lower().startswith("|member|"):
                continue  # the header row
            raise SpecError(path, n, "a row must be | `member id` | reason |")
        member, reason = m.group(1), m.group(2).strip()
        if member not in known:
            raise SpecError(path, n, f"not a member of {SURFACE_FILE}", member)
        if not reason:
            raise SpecError(path, n, "the reason is empty", member)
        if member in reasons:
            raise SpecError(path, n, f"listed twice (first at line {reasons[member].line})", member)
        reasons[member] = Reason(reason, n)
    return reasons


def cited_tests(node: dict[str, Any]) -> list[str]:
    """The Node test files a behavior's `node.test` names (a string or a list)."""
    test = node.get("test")
    if isinstance(test, str):
        return [test]
    return [t for t in test or [] if isinstance(t, str)]


@dataclass(frozen=True)
class SurfaceFiles:
    members: list[Member]
    reasons: dict[str, Reason]
    node_tests: list[NodeTest] | None  # None: specs/node-tests.yaml is absent


def load_surface_files(specs_dir: Path, behavior_ids: Iterable[str]) -> SurfaceFiles:
    """All three files, validated against each other and the behaviors (SpecError on the first problem)."""
    members = load_surface(specs_dir / SURFACE_FILE)
    ids = [m.id for m in members]
    not_covered = specs_dir / NOT_COVERED_FILE
    reasons = load_not_covered(not_covered, ids) if not_covered.is_file() else {}
    tests_path = specs_dir / NODE_TESTS_FILE
    tests = load_node_tests(tests_path, behavior_ids) if tests_path.is_file() else None
    return SurfaceFiles(members, reasons, tests)
