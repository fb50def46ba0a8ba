"""A behavior's cells on several targets run side by side (Session.run_cell_and_emit with `then`)
and give the cells they give one at a time: same status, examples, shown example. Checked with
impl under a fault that fails part-way, so its cell runs Hypothesis on a thread of its own."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from harness import runner
from harness.runner import CellResult, Session, side_by_side
from harness.scenario import to_json
from harness.spec import load_all, load_spec_file
from harness.spec.model import Behavior
from harness.targets import registry

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261126
FAULT = "corrupt-request-body"  # flips a body's first byte: empty bodies pass, others fail
TARGETS = ["node", "impl"]


def session() -> Session:
    return Session(TARGETS, session_seed=SEED, base_settings=settings(max_examples=15, deadline=None),
                   fault=FAULT, reruns=0)


def seen(cell: CellResult) -> tuple[Any, ...]:
    example = cell.example
    return (cell.target, cell.status, cell.examples_run, cell.statuses,
            to_json(dict(example.inputs)) if example else None)


@pytest.fixture(scope="module")
def behaviors() -> list[Behavior]:
    if not registry.create("node").installed():
        pytest.skip("node is not installed: python -m harness targets install node")
    return [b for b in load_spec_file(ROOT / "specs" / "bodies.yaml")
            if b.id in ("body.end-only-content-length", "body.write-then-end-chunked")]


def test_cells_side_by_side_equal_cells_one_at_a_time(behaviors: list[Behavior]) -> None:
    for behavior in behaviors:
        alone = session()
        expected = [seen(alone.run_cell(behavior, name)) for name in TARGETS]
        alone.close()
        together = session()
        first = seen(together.run_cell_and_emit(behavior, "node", then=["impl"]))
        assert (behavior.id, "impl") in together._ahead  # started before its own call
        assert [first, seen(together.run_cell_and_emit(behavior, "impl"))] == expected, behavior.id
        assert expected[1][1] == "FAIL"  # the fault shows: impl ran Hypothesis to shrink
        together.close()


def test_behaviors_on_fixed_ports_and_apps_run_one_target_at_a_time() -> None:
    by_id = {b.id: b for b in load_all(ROOT / "specs", ROOT / "cases")}
    kinds = {side_by_side(b) for b in by_id.values() if b.scenario.get("kind") == "app"}
    fixed = {side_by_side(b) for b in by_id.values() if b.id == "bridge.close-frees-port"}
    assert kinds == {False} and fixed == {False}
    assert side_by_side(by_id["body.end-only-content-length"])


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="the CPython bug is fixed from 3.13")
def test_parses_take_turns_while_cells_run_side_by_side() -> None:
    """Hypothesis parses lambda sources on the cells' threads: on 3.11 two at once can raise
    "AST constructor recursion depth mismatch" (seen under -n 8), so runner wraps ast.parse."""
    assert runner is not None and getattr(ast.parse, "one_at_a_time", False)
    assert isinstance(ast.parse("lambda x: x"), ast.Module)
