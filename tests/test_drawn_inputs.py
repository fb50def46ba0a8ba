"""A target that replays the inputs another target drew (runner.DrawnInputs) gets the cell
Hypothesis alone would give it: the same examples in the same order, the same status, the
same shrunk example. Checked on impl, with and without a fault that fails part-way, in both
orders. The first cell draws the whole list ahead with a test that does nothing
(Session._draw): that list is the one Hypothesis draws around the real scenarios."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from harness.runner import CellResult, DrawnInputs, Session
from harness.scenario import to_json
from harness.spec import load_spec_file
from harness.spec.model import Behavior

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261126
FEW = settings(max_examples=15, deadline=None)
FAULT = "corrupt-request-body"  # flips a body's first byte: empty bodies pass, others fail


def session(fault: str | None = None, drawn: DrawnInputs | None = None) -> Session:
    s = Session(["impl"], session_seed=SEED, base_settings=FEW, fault=fault, reruns=0)
    if drawn is not None:
        s._drawn = drawn
    return s


def seen(cell: CellResult) -> tuple[Any, ...]:
    example = cell.example
    return (cell.status, cell.examples_run, cell.statuses,
            to_json(dict(example.inputs)) if example else None, example.label if example else None)


@pytest.fixture(scope="module")
def behaviors() -> list[Behavior]:
    picked = [b for b in load_spec_file(ROOT / "specs" / "bodies.yaml")
              if b.id in ("body.end-only-content-length", "body.write-then-end-chunked")]
    assert len(picked) == 2
    return picked


@pytest.mark.parametrize("first_fault, then_fault", [(None, None), (None, FAULT), (FAULT, None), (FAULT, FAULT)])
def test_replayed_inputs_give_hypothesis_own_cell(behaviors: list[Behavior], first_fault: str | None,
                                                   then_fault: str | None) -> None:
    for behavior in behaviors:
        alone = session(then_fault)
        expected = seen(alone.run_cell(behavior, "impl"))
        alone.close()
        first = session(first_fault)
        first.run_cell(behavior, "impl")
        drawn, complete = first._drawn.get((behavior.id, _seed(first, behavior), 15))
        assert drawn and complete  # drawn ahead, whole, whatever the first cell found
        then = session(then_fault, first._drawn)
        assert seen(then.run_cell(behavior, "impl")) == expected, behavior.id
        first.close()
        then.close()


def test_a_failure_part_way_keeps_the_whole_list(behaviors: list[Behavior]) -> None:
    s = session(FAULT)
    for behavior in behaviors:
        cell = s.run_cell(behavior, "impl")
        assert cell.status == "FAIL"
        drawn, complete = s._drawn.get((behavior.id, _seed(s, behavior), 15))
        assert complete and len(drawn) == 15
    s.close()


def test_the_list_drawn_ahead_is_what_hypothesis_draws_around_the_scenarios(
        behaviors: list[Behavior], monkeypatch: pytest.MonkeyPatch) -> None:
    ahead = session()
    around = session()
    # Without the draw ahead, the cell's own Hypothesis run keeps the inputs it ran (passing: whole).
    monkeypatch.setattr(around, "_draw", lambda behavior, cell_seed: None)
    for behavior in behaviors:
        key = (behavior.id, _seed(ahead, behavior), 15)
        assert ahead.run_cell(behavior, "impl").status == around.run_cell(behavior, "impl").status == "PASS"
        assert to_json(list(ahead._drawn.get(key)[0])) == to_json(list(around._drawn.get(key)[0])), behavior.id
        assert around._drawn.get(key)[1]
    ahead.close()
    around.close()


def test_only_a_few_behaviors_are_kept() -> None:
    kept = DrawnInputs()
    for i in range(DrawnInputs.KEEP + 3):
        kept.put((f"b{i}", 1, 15), [{"i": i}], complete=True)
    assert kept.get(("b0", 1, 15)) == ([], False)
    assert kept.get((f"b{DrawnInputs.KEEP + 2}", 1, 15)) == ([{"i": DrawnInputs.KEEP + 2}], True)
    last = (f"b{DrawnInputs.KEEP + 2}", 1, 15)
    kept.put(last, [{"i": 0}], complete=False)  # a cut list never replaces a whole one
    assert kept.get(last) == ([{"i": DrawnInputs.KEEP + 2}], True)


def _seed(s: Session, behavior: Behavior) -> int:
    from harness.runner import derive_seed

    return derive_seed(s.session_seed, behavior.id)


@pytest.mark.parametrize("cap, runs", [(4, 4), (50, 15)])
def test_a_spec_max_examples_caps_the_profile_count_and_never_raises_it(
        behaviors: list[Behavior], cap: int, runs: int) -> None:
    behavior = dataclasses.replace(behaviors[0], max_examples=cap)
    s = session()
    try:
        cell = s.run_cell(behavior, "impl")
    finally:
        s.close()
    assert (cell.status, cell.examples_run - len(behavior.cases)) == ("PASS", runs)
