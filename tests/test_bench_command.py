"""`python -m harness bench`: the shape of what it prints (on impl, a few examples; no
figure is checked: timing is never a test) and its refusals of bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.bench.bare_reference import bench_loop
from harness.bench.command import MIX, asked_delay_ms, bare_origin, draw_inputs, run
from harness.cli import main
from harness.spec import load_all
from harness.wire import Wire

ROOT = Path(__file__).resolve().parents[1]
FIGURE = r"\d+\.\d+"


def test_prints_each_kind_then_the_worst_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.bench import command

    monkeypatch.setattr(command, "time_waits", lambda: 0)
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


def test_the_bare_client_loop_opens_a_connection_for_each_exchange() -> None:
    """As each client scenario does (a fresh origin): the reference's fetch keeps a
    connection alive, so the bare origin closes each (without it: 1 connection, not 4)."""
    behavior = next(b for b in load_all(ROOT / "specs", ROOT / "cases") if b.id == MIX["client"])
    inputs = draw_inputs(behavior, 1)[0]
    wire = Wire()
    try:
        with wire.origin(bare_origin(behavior, inputs)) as origin:
            bench_loop({"n": 3, "warm": 1, "server": {"body_b64": ""},
                        "client": {"host": "127.0.0.1", "port": origin.port, "header": [inputs["name"], inputs["value"]]}})
            record = origin.recording()
    finally:
        wire.close()
    assert (len(record["requests"]), record["connections"]) == (4, 4)


def test_workerds_bare_server_loop_runs_over_raw_connections() -> None:
    """workerd's bare server exchange is a raw GET over a fresh cloudflare:sockets connection
    to its bridge socket (drivers/workerd/worker.mjs, benchScenario): it runs to the end and
    prints its line (strace counted one connect per exchange; a fetch kept one for the loop)."""
    from harness.targets import registry

    if not registry.create("workerd").installed():
        pytest.skip("workerd not installed (python -m harness targets install)")
    lines: list[str] = []
    assert run(["workerd"], 3, ROOT / "specs", ROOT / "cases", lines.append) == 0
    server = next(line for line in lines if line.startswith("  server"))
    assert re.match(rf"  server +bare +{FIGURE} ms +harness +{FIGURE} ms +ratio +{FIGURE}", server)


def test_bare_and_harness_alternate_round_by_round(monkeypatch: pytest.MonkeyPatch) -> None:
    """After an untimed warm-up of both, they are sampled over the same seconds: a bare loop,
    then that round's examples of each kind through the harness, ten times (fewer when --n is
    small); each timed example once."""
    from harness.bench import command

    calls: list[tuple[str, ...]] = []

    def bare(target: object, spec: dict) -> dict:
        calls.append(("bare", spec["n"]))
        return {"client_ms": [1.0] * spec["n"], "server_ms": [1.0] * spec["n"]}

    def through(session: object, target: object, behavior: object, inputs: list, first: int) -> list[float]:
        calls.append(("harness", first, len(inputs)))
        return [2.0] * len(inputs)

    monkeypatch.setattr(command, "_bare", bare)
    monkeypatch.setattr(command, "_through_harness", through)
    monkeypatch.setattr(command, "time_waits", lambda: 0)
    lines: list[str] = []
    assert run(["impl"], 40, ROOT / "specs", ROOT / "cases", lines.append) == 0
    warm_up = [("bare", 0), ("harness", 40, 40), ("harness", 40, 40)]  # untimed, each kind at most n
    assert calls == warm_up + [c for lo in (0, 10, 20, 30) for c in (("bare", 10), ("harness", lo, 10), ("harness", lo, 10))]
    assert "ratio  2.00" in lines[1] and "ratio  2.00" in lines[2]
    assert command.rounds(3) == [(0, 3)] and len(command.rounds(200)) == command.ROUNDS


def test_a_machine_full_of_time_waits_is_said_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A run less than a minute before leaves its TIME_WAITs: binds are slower, and bench says so."""
    from harness.bench import command

    table = tmp_path / "tcp"
    row = "   0: 0100007F:A77D 0100007F:95C0 {} 00000000:00000000 03:000004F2 00000000     0        0 0 3 0"
    table.write_text("  sl  local_address rem_address   st ...\n" + "\n".join(row.format(st) for st in ("06", "0A", "06")))
    assert command.time_waits((table, tmp_path / "missing")) == 2
    monkeypatch.setattr(command, "time_waits", lambda: command.BUSY_PORTS + 1)
    lines: list[str] = []
    assert run(["impl"], 3, ROOT / "specs", ROOT / "cases", lines.append) == 0
    assert lines[0].startswith(f"note: {command.BUSY_PORTS + 1} TCP sockets in TIME_WAIT")
    assert lines[-1].startswith("bench: worst ratio")
