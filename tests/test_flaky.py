"""FLAKY: a failing example runs again before it is reported; one that does not fail every
time is FLAKY, neither PASS nor FAIL, and the gate reports it as a change.

The target here is the impl target registered under another name, whose first run (or
every run) comes back with a wrong status code: a target that fails once and then passes.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import settings

from harness.pytest_plugin import BehaviorItem
from harness.report import gate as gating
from harness.runner import Session
from harness.spec import load_spec_file
from harness.spec.model import Behavior
from harness.status import STATUS, Outcome
from harness.targets import registry
from harness.targets.base import Exchange, Json
from harness.targets.impl import ImplTarget

SPEC = """\
feature: responses
behaviors:
  - id: demo.status
    title: The status code arrives
    level: required
    catalogue: [demo]
    scenario:
      kind: client  # the defaults: GET / to a plain 200 origin
    expect:
      - at: response.statusCode
        equals: 200
"""


class WrongStatusTarget(ImplTarget):
    """impl, with the status code of its first `failing_runs` responses off by 299."""

    failing_runs = 1

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.runs = 0

    def run(self, scenario: Json, exchange: Exchange | None) -> Json:
        obs = super().run(scenario, exchange)
        self.runs += 1
        if self.runs <= self.failing_runs and obs.get("response"):
            obs["response"]["statusCode"] += 299
        return obs


class AlwaysWrongStatusTarget(WrongStatusTarget):
    failing_runs = 1_000


@pytest.fixture
def behavior(tmp_path: Path) -> Behavior:
    path = tmp_path / "demo.yaml"
    path.write_text(SPEC)
    return load_spec_file(path)[0]


def register(monkeypatch: pytest.MonkeyPatch, name: str, cls: type) -> None:
    monkeypatch.setitem(registry.TARGETS, name, registry.TargetInfo(name, f"{__name__}:{cls.__name__}", "runtime"))


def run(name: str, behavior: Behavior, tmp_path: Path, **options: Any) -> Any:
    session = Session([name], session_seed=1, base_settings=settings(max_examples=3, deadline=None),
                      report_dir=tmp_path, **options)
    try:
        return session.run_cell(behavior, name)
    finally:
        session.close()


def test_a_failure_that_does_not_come_back_is_flaky(monkeypatch: pytest.MonkeyPatch, behavior: Behavior,
                                                     tmp_path: Path) -> None:
    register(monkeypatch, "fails-once", WrongStatusTarget)
    cell = run("fails-once", behavior, tmp_path)
    assert cell.status == "FLAKY" and cell.reruns == ["PASS", "PASS"]
    assert cell.message.startswith("failed 1 of 3 runs (FAIL, PASS, PASS): response.statusCode equals 200")
    assert STATUS["FLAKY"].outcome is Outcome.XFAILED  # pytest: neither passed nor failed
    # The failing run is what the repro file keeps, with the line that failed.
    repro = json.loads(Path(cell.repro_file or "").read_text())
    assert repro["status"] == "FLAKY" and repro["reruns"] == ["PASS", "PASS"]
    assert repro["failures"][0]["spec"].endswith("demo.yaml:10") and repro["causes"] == ["response.statusCode = 499"]


def test_a_failure_that_comes_back_every_time_stays_fail(monkeypatch: pytest.MonkeyPatch, behavior: Behavior,
                                                         tmp_path: Path) -> None:
    register(monkeypatch, "always-wrong", AlwaysWrongStatusTarget)
    cell = run("always-wrong", behavior, tmp_path)
    assert cell.status == "FAIL" and cell.reruns == ["FAIL", "FAIL"]
    assert cell.causes == ["response.statusCode = 499"]
    # pytest's failure text: the failing entry's file:line and YAML, as Tavern shows it.
    item = SimpleNamespace(behavior=behavior, target="always-wrong")
    text = BehaviorItem._describe(item, cell, SimpleNamespace(fault=None, session_seed=1))  # type: ignore[arg-type]
    assert (f"{behavior.source}:10: cause response.statusCode = 499\n    - at: response.statusCode\n"
            "      equals: 200\n  expected/observed: response.statusCode equals 200: observed 499") in text


def test_no_reruns_reports_the_first_failure(monkeypatch: pytest.MonkeyPatch, behavior: Behavior,
                                             tmp_path: Path) -> None:
    register(monkeypatch, "fails-once", WrongStatusTarget)
    cell = run("fails-once", behavior, tmp_path, reruns=0)
    assert cell.status == "FAIL" and cell.reruns == []


def results(*statuses: tuple[str, str]) -> dict[str, Any]:
    return {"targets": {}, "results": [{"behavior": b, "target": "workerd", "status": s, "message": "m"}
                                       for b, s in statuses]}


def test_the_gate_reports_a_cell_that_became_flaky() -> None:
    before = gating.baseline_from(results(("a", "PASS"), ("b", "FAIL")), "workerd")
    now = results(("a", "FLAKY"), ("b", "FLAKY"))
    report = gating.gate(now, before)
    assert not report.ok and report.regressions == ["a: PASS -> FLAKY: m"]
    assert report.improvements == ["b: FAIL -> FLAKY"]
    accepted = gating.baseline_from(now, "workerd", before)  # gate --update --merge
    assert accepted["statuses"]["a"] == ["FLAKY", "PASS"] and gating.gate(now, accepted).ok
