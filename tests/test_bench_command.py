"""`python -m harness bench`: the shape of what it prints (on impl, a few examples; no
figure is checked: timing is never a test) and its refusals of bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.bench.command import asked_delay_ms, run
from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIGURE = r"\d+\.\d+"


def test_prints_each_kind_then_the_worst_ratio() -> None:
    lines: list[str] = []
    assert run(["impl"], 3, ROOT / "specs", ROOT / "cases", lines.append) == 0
    head, client, server, last = lines
    assert re.fullmatch(rf"impl \(.+\): start-up {FIGURE} s, spec loading {FIGURE} s", head)
    for kind, line in (("client", client), ("server", server)):
        assert re.match(rf"  {kind} +bare +{FIGURE} ms +harness +{FIGURE} ms +ratio +{FIGURE} +\d+ examples/s", line)
    assert re.fullmatch(rf"bench: worst ratio {FIGURE} on impl", last)


@pytest.mark.parametrize("argv", [["bench"], ["bench", "--target", "nope"], ["bench", "--all", "--n", "0"]])
def test_bad_input_exits_2_with_a_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() and "Traceback" not in err


def test_asked_delays_are_the_waits_and_delays_a_scenario_names() -> None:
    scenario = {"servers": [{"handler": [{"op": "wait", "ms": 30}, {"op": "res.end"}]}],
                "requests": [{"body": [{"data": "a", "delay_ms": 5}, {"data": "b", "delay_ms": 0}]}],
                "client": {"response": {"pause_ms": 2}}}
    assert asked_delay_ms(scenario) == 37
