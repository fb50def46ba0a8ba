"""Causes: failing entries attributed to named or automatic causes, grouped per target, with
a class read on the reference target; the failing line of every FAIL; the lint of causes.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from harness.report.causes import group, summary
from harness.report.matrix import build
from harness.report.render import render_all
from harness.spec import SpecError, load_spec_file
from harness.spec.causes import check_causes, load_causes
from harness.spec.model import Behavior
from harness.verdict import verdict

SPEC = """\
feature: responses
behaviors:
  - id: demo.ok
    title: A 200 says OK
    level: required
    catalogue: [demo]
    scenario: {kind: client, client: {call: request, args: [/], ops: [{op: end}]}, origin: {responses: [{status: 200}]}}
    expect:
      - at: response.statusCode
        equals: 200
      - at: response.statusMessage
        equals: OK
        cause: status-text-unknown
  - id: demo.created
    title: A 201 says Created
    level: required
    catalogue: [demo]
    scenario: {kind: client, client: {call: request, args: [/], ops: [{op: end}]}, origin: {responses: [{status: 201}]}}
    expect:
      - at: response.statusMessage
        equals: Created
"""

CAUSES = """\
- id: status-text-unknown
  title: status text is 'unknown'
  subject: demo.ok
  symptom: {at: response.statusMessage, equals: unknown}
"""


def observed(message: str, code: int = 200) -> dict[str, Any]:
    return {"status": "ok", "response": {"statusCode": code, "statusMessage": message}, "events": []}


@pytest.fixture
def specs(tmp_path: Path) -> tuple[dict[str, Behavior], dict[str, Any], Path]:
    spec = tmp_path / "demo.yaml"
    spec.write_text(SPEC)
    (tmp_path / "causes.yaml").write_text(CAUSES)
    return {b.id: b for b in load_spec_file(spec)}, load_causes(tmp_path / "causes.yaml"), spec


def test_a_tag_names_the_cause_when_its_symptom_holds(specs: Any) -> None:
    behaviors, causes, _ = specs
    v = verdict(behaviors["demo.ok"], "node", {}, observed("unknown"), causes)
    assert v.status == "FAIL" and v.causes == ["status-text-unknown"]
    other = verdict(behaviors["demo.ok"], "node", {}, observed("Fine"), causes)
    assert other.causes == ['response.statusMessage = "Fine"']  # another departure: automatic


def test_two_behaviors_with_one_departure_share_an_automatic_cause(specs: Any) -> None:
    behaviors, causes, _ = specs
    untagged = verdict(behaviors["demo.created"], "node", {}, observed("unknown", 201), causes)
    assert untagged.causes == ['response.statusMessage = "unknown"']
    # Two FAIL cells of one target seeing the same thing: one cause, two cells.
    doc = results([rec("demo.created", "workerd", "FAIL", untagged.causes),
                   rec("demo.other", "workerd", "FAIL", ['response.statusMessage = "unknown"'])])
    rows = group(doc)["workerd"]
    assert [(r.id, r.cells) for r in rows] == [('response.statusMessage = "unknown"', ["demo.created", "demo.other"])]


def test_a_cell_counts_its_named_causes_or_its_first_failing_entry(specs: Any) -> None:
    behaviors, causes, _ = specs
    both = verdict(behaviors["demo.ok"], "node", {}, observed("unknown", 500), causes)
    assert [f.cause for f in both.failures] == ["response.statusCode = 500", "status-text-unknown"]
    assert both.causes == ["status-text-unknown"]
    first = verdict(behaviors["demo.ok"], "node", {}, observed("Fine", 500), causes)
    assert first.causes == ["response.statusCode = 500"]


def test_a_failure_names_the_line_of_its_expect_entry(specs: Any) -> None:
    behaviors, causes, spec = specs
    failure = verdict(behaviors["demo.created"], "node", {}, observed("Nope", 201), causes).failures[0]
    line = SPEC.splitlines().index("      - at: response.statusMessage", 15) + 1
    assert failure.written.location.endswith(f"{spec.name}:{line}")
    assert failure.written.text == "- at: response.statusMessage\n  equals: Created"


def rec(behavior: str, target: str, status: str, causes: list[str]) -> dict[str, Any]:
    failures = [{"spec": "specs/demo.yaml:12", "yaml": "- at: x\n  equals: 1", "message": f"{c}: observed",
                 "cause": c} for c in causes]
    return {"behavior": behavior, "title": behavior, "catalogue": [], "feature": "responses", "level": "required",
            "target": target, "profile": None, "status": status, "declared": False, "message": "m",
            "example": None, "repro": [], "repro_file": None, "examples_run": 1, "statuses": {status: 1},
            "spec": "specs/demo.yaml:3", "seed": 1, "wall_s": 0.1, "differences": [], "causes": causes,
            "failures": failures, "reruns": ["FAIL", "FAIL"] if causes else []}


def results(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": "node-http-conformance/results/v1", "harness_version": "0", "started": "s", "finished": "f",
            "wall_s": 1, "session_seed": 7, "hypothesis_profile": "ci", "fault": None, "oracle": None,
            "targets": {"impl": {"kind": "reference", "profile": "fetch-backed"},
                        "workerd": {"kind": "runtime", "profile": "fetch-backed"},
                        "bun": {"kind": "runtime", "profile": "node"}},
            "causes": {"status-text-unknown": {"title": "status text is 'unknown'", "subject": "demo.ok"}},
            "results": records}


NAMED = ["status-text-unknown"]


@pytest.mark.parametrize(("on_reference", "cls"), [
    (rec("demo.ok", "impl", "PASS", []), "fixable"),  # the reference avoids it: a runtime can
    (rec("demo.ok", "impl", "FAIL", NAMED), "fetch"),  # the reference shows it too
    (rec("demo.ok", "impl", "FAIL", ["response.statusCode = 500"]), "fixable"),  # fails otherwise
    (None, "unknown"),  # the reference did not run the subject
])
def test_the_class_comes_from_the_reference_on_the_subject(on_reference: dict[str, Any] | None, cls: str) -> None:
    records = [rec("demo.ok", "workerd", "FAIL", NAMED), rec("demo.created", "workerd", "FAIL", NAMED),
               rec("demo.ok", "bun", "FAIL", NAMED)]
    rows = group(results(records + ([on_reference] if on_reference else [])))
    assert [(r.id, r.cls, r.subject, r.cells) for r in rows["workerd"]] == \
        [("status-text-unknown", cls, "demo.ok", ["demo.ok", "demo.created"])]
    assert rows["bun"][0].cls == "-"  # not fetch-backed: fetch is no excuse
    assert rows["workerd"][0].command == "pytest --target=workerd -k 'demo.ok or demo.created' --hypothesis-seed=7"


def test_an_automatic_cause_is_fetch_when_the_reference_fails_its_behaviors() -> None:
    auto = ['response.statusMessage = "unknown"']
    doc = results([rec("demo.created", "workerd", "FAIL", auto), rec("demo.created", "impl", "TIMEOUT", ["t"])])
    assert group(doc)["workerd"][0].cls == "fetch"


def test_summary_and_every_format_show_the_causes(tmp_path: Path) -> None:
    doc = results([rec("demo.ok", "workerd", "FAIL", NAMED), rec("demo.created", "workerd", "FAIL", NAMED),
                   rec("demo.x", "workerd", "TIMEOUT", ["TIMEOUT: hung"]), rec("demo.y", "workerd", "FLAKY", []),
                   rec("demo.ok", "impl", "PASS", [])])
    m = build(doc)
    assert summary("workerd", m.causes["workerd"], m.counts["workerd"]) == \
        "workerd: 2 FAIL + 1 TIMEOUT cells from 2 causes (1 fixable, 1 unknown); 1 FLAKY cell (failed, then passed when run again)"
    render_all(doc, tmp_path)
    md = (tmp_path / "matrix.md").read_text()
    assert "## Causes" in md and "status text is 'unknown' (`status-text-unknown`)" in md
    assert "  - `specs/demo.yaml:12`: status-text-unknown: observed\n    ```yaml\n    - at: x\n      equals: 1" in md
    html = (tmp_path / "matrix.html").read_text()
    assert '<h2 id="causes">Causes</h2>' in html and '"yaml": "- at: x\\n  equals: 1"' in html
    causes = json.loads((tmp_path / "matrix.json").read_text())["causes"]["workerd"]
    assert causes[0]["id"] == "status-text-unknown" and causes[0]["class"] == "fixable"
    suite = ET.fromstring((tmp_path / "matrix.junit.xml").read_text()).find("testsuite[@name='workerd']")
    assert suite is not None and "from 2 causes" in (suite.findtext("system-out") or "")
    assert suite.find("testcase[@name='demo.y']/flakyFailure") is not None
    assert suite.find("testcase[@name='demo.ok']/properties/property[@name='cause']") is not None


def test_lint_checks_cause_ids_and_subjects(specs: Any, tmp_path: Path) -> None:
    behaviors, causes, spec = specs
    check_causes(list(behaviors.values()), causes)
    spec.write_text(SPEC.replace("cause: status-text-unknown", "cause: status-text-unknwon"))
    with pytest.raises(SpecError, match="'status-text-unknwon' is not in specs/causes.yaml") as err:
        check_causes(load_spec_file(spec), causes)
    assert err.value.line == 11 and err.value.behavior == "demo.ok"  # the entry naming it
    (tmp_path / "causes.yaml").write_text(CAUSES.replace("subject: demo.ok", "subject: demo.gone"))
    with pytest.raises(SpecError, match="subject 'demo.gone' is not a behavior"):
        check_causes(list(behaviors.values()), load_causes(tmp_path / "causes.yaml"))
    (tmp_path / "causes.yaml").write_text(CAUSES + "- {id: never-named, title: not used, subject: demo.ok}\n")
    with pytest.raises(SpecError, match="no assertion names this cause"):
        check_causes(list(behaviors.values()), load_causes(tmp_path / "causes.yaml"))
    (tmp_path / "causes.yaml").write_text(CAUSES.replace("equals: unknown", "equals: {$given: x}"))
    with pytest.raises(SpecError, match="symptom uses \\$given"):
        load_causes(tmp_path / "causes.yaml")
