"""The xdist scheduler (harness/lanes.py) and the durations it deals by (harness/durations.py):
the longest waiting unit first, never to more workers at once than its lanes, the short
units to the others; run inside xdist's own LoadGroupScheduling with workers that record
what they are sent. A bad durations file is bad input (exit 2, a message, nothing run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import durations
from harness.durations import Durations

pytest.importorskip("xdist")

from harness.lanes import Lanes, cell_of, heavy_units, lanes_for, pick, unmeasured_line  # noqa: E402 - needs xdist

ROOT = Path(__file__).resolve().parent.parent


def test_a_cells_node_id_names_its_behavior_and_target() -> None:
    assert cell_of("specs/methods.yaml::methods.head[node]@methods.head") == ("methods.head", "node")
    assert cell_of("specs/a.yaml::server.x[workerd@2025-09-15]@server.x") == ("server.x", "workerd@2025-09-15")
    assert cell_of("specs/a.yaml::server.x[workerd@2025-09-15]") == ("server.x", "workerd@2025-09-15")
    assert cell_of("tests/test_x.py::test_y") is None


def test_a_missing_cell_is_estimated_from_its_peers_then_from_the_median() -> None:
    d = Durations({"a": {"node": 1.0, "bun": 3.0}, "b": {"node": 0.5}, "c": {"node": 0.2}})
    assert d.cell("a", "bun") == 3.0
    assert d.cell("a", "deno") == 2.0  # its other targets' mean
    assert d.cell("new", "node") == 0.75  # the median cell
    assert d.unit([("a", "node"), ("b", "node")]) == 1.5


def test_heavy_units_are_five_times_the_median_or_more() -> None:
    costs = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 1.5, "e": 2.5}
    assert heavy_units(costs) == {"d", "e"}
    assert heavy_units({}) == set()


def test_the_short_units_keep_a_cores_worth_of_workers_and_one_more() -> None:
    assert [lanes_for(w, cores=2) for w in (1, 2, 3, 6, 8, 10)] == [1, 1, 1, 3, 5, 7]
    assert lanes_for(10, cores=4) == 5


def test_pick_deals_the_longest_waiting_unit_until_the_lanes_are_full() -> None:
    costs = {"h1": 10.0, "h2": 20.0, "s1": 0.5, "s2": 0.7}
    heavy = {"h1", "h2"}
    waiting = ["h1", "s1", "h2", "s2"]
    assert pick(waiting, costs, heavy, heavy_busy=0, lanes=2) == "h2"
    assert pick(waiting, costs, heavy, heavy_busy=1, lanes=2) == "h2"
    assert pick(waiting, costs, heavy, heavy_busy=2, lanes=2) == "s2"  # lanes full: the longest short one
    assert pick(["h1"], costs, heavy, heavy_busy=5, lanes=2) == "h1"  # no short one left
    assert pick(["s1", "s2"], costs, heavy, heavy_busy=0, lanes=2) == "s2"


class _Config:
    """What xdist's scheduler reads of pytest's config."""

    def __init__(self, workers: int) -> None:
        self.option = type("Option", (), {"loadscopereorder": True})()
        self.workers = workers

    def getvalue(self, name: str) -> Any:
        assert name == "tx"
        return [f"{self.workers}*popen"]


class _Worker:
    def __init__(self, name: str) -> None:
        self.gateway = type("Gateway", (), {"id": name})()
        self.sent: list[list[int]] = []
        self.shutting_down = False

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append(indexes)

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduled(cost: Durations, collection: list[str], n: int) -> tuple[Lanes, list[_Worker]]:
    """A Lanes scheduler over n recording workers that collected `collection`, after its first deal."""
    sched = Lanes(_Config(n), None, cost)  # type: ignore[arg-type]
    workers = [_Worker(f"gw{i}") for i in range(n)]
    for w in workers:
        sched.add_node(w)  # type: ignore[arg-type]
    for w in workers:
        sched.add_node_collection(w, collection)  # type: ignore[arg-type]
    sched.schedule()
    return sched, workers


def test_the_scheduler_deals_waiting_units_to_its_lanes_and_short_units_to_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0}, raising=False)  # one core: 2 short workers
    behaviors = {"wait.a": 30.0, "wait.b": 20.0, "wait.c": 10.0, "short.a": 0.4, "short.b": 0.3,
                 "short.c": 0.2, "short.d": 0.1, "short.e": 0.1, "short.f": 0.1, "short.g": 0.1}
    targets = ["node", "bun", "deno"]  # units of three cells: xdist deals a worker more at two left
    cost = Durations({b: {t: s / len(targets) for t in targets} for b, s in behaviors.items()})
    collection = [f"specs/x.yaml::{b}[{t}]@{b}" for b in sorted(behaviors) for t in targets]
    sched, workers = _scheduled(cost, collection, 4)
    assert sched.lanes == 2 and sched.heavy == {"wait.a", "wait.b", "wait.c"}
    assert sched.unmeasured == []

    def units(w: _Worker) -> list[str]:
        return [cell_of(collection[batch[0]])[0] for batch in w.sent]  # type: ignore[index]

    def done(w: _Worker, unit: int, cells: int) -> None:
        for index in w.sent[unit][:cells]:
            sched.mark_test_complete(w, index)  # type: ignore[arg-type]

    # the first deal: the two longest waiting units, then the longest short ones
    assert [units(w) for w in workers] == [["wait.a"], ["wait.b"], ["short.a"], ["short.b"]]
    done(workers[1], 0, 1)  # two cells left: gw1 is dealt more, a short unit (both lanes are taken)
    assert units(workers[1]) == ["wait.b", "short.c"]
    done(workers[1], 0, 3)
    done(workers[1], 1, 1)  # wait.b is over: its lane is free for the last waiting unit
    assert units(workers[1]) == ["wait.b", "short.c", "wait.c"]
    done(workers[2], 0, 1)
    assert units(workers[2]) == ["short.a", "short.d"]


def test_behaviors_the_durations_lack_are_named_in_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    collection = [f"specs/x.yaml::{b}[node]@{b}" for b in ("known", "new.a", "new.b")]
    sched, _ = _scheduled(Durations({"known": {"node": 1.0}}), collection, 2)
    assert sched.unmeasured == ["new.a", "new.b"]
    line = unmeasured_line(["a", "b", "c", "d"], "reports/durations.json")
    assert line.startswith("4 behavior(s) not in reports/durations.json") and "(a, b, c, ...)" in line
    assert "python -m harness durations" in line


def test_durations_are_written_from_results_and_keep_what_the_run_lacks(tmp_path: Path) -> None:
    results = {"hypothesis_profile": "ci", "session_seed": 1, "started": "t", "results": [
        {"behavior": "a", "target": "node", "status": "PASS", "wall_s": 1.25},
        {"behavior": "b", "target": "node", "status": "SKIP", "wall_s": 0.0}]}
    previous = Durations({"a": {"node": 9.0, "bun": 2.0}, "c": {"node": 0.5}})
    doc = durations.from_results(results, previous)
    assert doc["seconds"] == {"a": {"bun": 2.0, "node": 1.25}, "c": {"node": 0.5}}
    path = tmp_path / "durations.json"
    path.write_text(durations.dumps(doc), encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8"))["schema"] == durations.SCHEMA
    assert durations.load(path) == Durations(doc["seconds"])
    assert durations.load(tmp_path / "absent.json") is None


@pytest.mark.parametrize("text", ["{not json", json.dumps({"schema": "other", "seconds": {}}),
                                  json.dumps({"schema": durations.SCHEMA, "seconds": {"a": {"node": "slow"}}})],
                         ids=["not-json", "other-schema", "not-seconds"])
def test_an_unusable_durations_file_stops_the_run_with_exit_2(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "durations.json"
    bad.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "pytest", "specs/methods.yaml", "--target=impl", "-n", "2",
                           "--dist", "loadgroup", f"--cell-durations={bad}", f"--report-dir={out}",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{bad}: " in done.stdout + done.stderr and "python -m harness durations" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not out.exists()
