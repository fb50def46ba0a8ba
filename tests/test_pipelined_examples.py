"""Session.run_examples begins example i+1's scenario on a target that can (`begin`: the
stdio runtimes) before example i is judged, and ends a scenario begun ahead of a finding
unjudged. The target here is the impl target with a `begin` that logs what it is asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from harness.runner import Session
from harness.spec import load_spec_file
from harness.spec.model import Behavior
from harness.targets.base import Exchange, Json
from harness.targets.impl import ImplTarget

SPEC = """\
feature: responses
behaviors:
  - id: demo.status
    title: The status code arrives
    level: required
    catalogue: [demo]
    given:
      path: {one_of: [/a, /b, /c, /d, /e]}  # several inputs drawn: examples to pipeline
    scenario:
      kind: client  # GET to a plain 200 origin
      client:
        args: [{host: {$origin_host: true}, port: {$origin_port: true}, path: {$given: path}}]
    expect:
      - at: response.statusCode
        equals: 200
"""


class LoggedTarget(ImplTarget):
    """impl with a `begin` that runs the scenario at once and logs `begin n` and `end n`;
    `status` and `code` replace the observations' status and status code of every example."""

    def __init__(self, status: str = "ok", code: int = 200, **options: Any) -> None:
        super().__init__(**options)
        self.log: list[str] = []
        self.status, self.code = status, code

    def begin(self, scenario: Json, exchange: Exchange | None) -> Any:
        n = scenario["id"].rsplit("/", 1)[1]
        self.log.append(f"begin {n}")
        obs = self.run(scenario, exchange)
        obs["status"] = self.status
        if obs.get("response"):
            obs["response"]["statusCode"] = self.code

        def end() -> Json:
            self.log.append(f"end {n}")
            return obs
        return end


@pytest.fixture
def behavior(tmp_path: Path) -> Behavior:
    path = tmp_path / "demo.yaml"
    path.write_text(SPEC)
    return load_spec_file(path)[0]


def examples(target: LoggedTarget, behavior: Behavior, count: int, consume: int) -> list[str]:
    """The target's log when each of the first `consume` examples of `count` is judged,
    then its log once the consumer stopped."""
    session = Session(["impl"], session_seed=1, base_settings=settings(max_examples=3, deadline=None))
    target.start()
    seen = []
    try:
        run = session.run_examples(behavior, target, [{"path": "/"}] * count, "generated", 0)
        for _ in range(consume):
            next(run)
            seen.append(" ".join(target.log))
        run.close()
        seen.append(" ".join(target.log))
    finally:
        target.stop()
        session.close()
    return seen


def test_the_next_scenario_is_begun_before_an_example_is_judged(behavior: Behavior) -> None:
    assert examples(LoggedTarget(), behavior, 3, 3) == [
        "begin 0 end 0 begin 1",
        "begin 0 end 0 begin 1 end 1 begin 2",
        "begin 0 end 0 begin 1 end 1 begin 2 end 2",  # nothing begun past the last
        "begin 0 end 0 begin 1 end 1 begin 2 end 2",
    ]


def test_a_scenario_begun_ahead_of_a_consumer_that_stops_is_ended(behavior: Behavior) -> None:
    assert examples(LoggedTarget(code=499), behavior, 3, 1) == ["begin 0 end 0 begin 1", "begin 0 end 0 begin 1 end 1"]


def test_nothing_is_begun_ahead_of_a_scenario_that_did_not_run(behavior: Behavior) -> None:
    # a timeout or crash: the target may be restarting; the next scenario waits for the verdict
    assert examples(LoggedTarget(status="timeout"), behavior, 2, 2) == [
        "begin 0 end 0", "begin 0 end 0 begin 1 end 1", "begin 0 end 0 begin 1 end 1"]


def test_a_finding_in_a_cell_leaves_no_scenario_unended(monkeypatch: pytest.MonkeyPatch, behavior: Behavior) -> None:
    target = LoggedTarget(code=499)
    session = Session(["logged"], session_seed=1, base_settings=settings(max_examples=5, deadline=None), reruns=0)
    monkeypatch.setattr(session, "target", lambda name: target)
    target.start()
    try:
        cell = session.run_cell(behavior, "logged")
    finally:
        target.stop()
        session.close()
    assert cell.status == "FAIL"
    begun = [e.split()[1] for e in target.log if e.startswith("begin")]
    ended = [e.split()[1] for e in target.log if e.startswith("end")]
    assert begun and begun == ended
