"""The status table: complete, and the one source of the fold, the outcomes and the README table."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from harness.status import NAMES, OUTCOME, STATUS, TABLE, Kind, Outcome, Status, names
from harness.verdict import worst

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("status", TABLE, ids=lambda s: s.name)
def test_every_status_has_every_attribute(status: Status) -> None:
    for f in dataclasses.fields(status):
        value = getattr(status, f.name)
        assert value is not None and value != "", f.name
    assert isinstance(status.kind, Kind) and isinstance(status.outcome, Outcome)
    assert re.fullmatch(r"#[0-9a-f]{6}", status.colour) and status.label and status.meaning


def test_names_severities_and_kinds_are_distinct_and_complete() -> None:
    assert len(set(NAMES)) == len(TABLE) and list(STATUS) == list(NAMES)
    assert len({s.severity for s in TABLE}) == len(TABLE)
    assert {s.kind for s in TABLE} == set(Kind) and set(OUTCOME) == set(Kind)


def test_the_fold_reads_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    for a in NAMES:
        for b in NAMES:
            assert worst([a, b]) == max((a, b), key=lambda s: STATUS[s].severity)
    assert worst([]) == "SKIP"
    monkeypatch.setitem(STATUS, "PASS", dataclasses.replace(STATUS["PASS"], severity=100))
    assert worst(["FAIL", "PASS", "ERROR"]) == "PASS"


def test_readme_outcome_table_agrees() -> None:
    """README, "What fails the pytest run": the outcomes each status is listed with."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## What fails the pytest run")[1]
    listed: dict[str, set[str]] = {}
    for line in section.split("\n## ")[0].splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 2:
            continue
        words = re.findall(r"\b(passed|skipped|xfailed|failed)\b", cells[1])[:1]
        for name in re.findall(r"\b[A-Z]{4,}\b", cells[0]):
            listed.setdefault(name, set()).update(words)
    expected = {Outcome.PASSED: {"passed"}, Outcome.SKIPPED: {"skipped"}, Outcome.FAILED: {"failed"},
                Outcome.FINDING: {"failed", "xfailed"}, Outcome.XFAILED: {"xfailed"}}
    assert set(listed) == set(NAMES)
    for status in TABLE:
        assert listed[status.name] == expected[status.outcome], status.name


def test_spec_schema_declares_the_declared_kind() -> None:
    schema = json.loads((ROOT / "harness" / "spec" / "spec.schema.json").read_text(encoding="utf-8"))
    enums = re.findall(r'"status": \{"enum": (\[[^\]]*\])', json.dumps(schema))
    assert [set(json.loads(e)) for e in enums] == [set(names(Kind.DECLARED))]
