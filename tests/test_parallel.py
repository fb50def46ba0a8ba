"""Past one process: `pytest -n 2`, `--shard K/N` and `python -m harness merge` give the
statuses and examples of a serial run with the same seed; a merge of parts that are not one
run is refused (exit 2, a message, nothing written).

The runs are real (impl and node, the behaviors of specs/methods.yaml, the dev profile), in
subprocesses, as a user types them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import parallel
from harness.report.merge import MergeError, merge
from harness.report.results import SCHEMA
from harness.scenario import listens_on_fixed_port
from harness.shard import BadShard, Shard

ROOT = Path(__file__).resolve().parent.parent
SEED = "20261126"
# the behaviors of specs/methods.yaml: only that file is collected (pytest), or loaded and
# picked by id (python -m harness run -k methods.)
SLICE = ["specs/methods.yaml", "--target=impl", "--target=node", "--hypothesis-profile=dev",
         f"--hypothesis-seed={SEED}", "-q", "-p", "no:cacheprovider"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _pytest(report_dir: Path, *extra: str) -> dict[str, Any]:
    done = _run("-m", "pytest", *SLICE, *extra, f"--report-dir={report_dir}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((report_dir / "results.json").read_text(encoding="utf-8"))


def _cells(doc: dict[str, Any]) -> list[tuple[str, str, str, int, str]]:
    """What must not depend on how the run was split: per cell, in order, its status, the
    number of examples run and the example shown."""
    return [(r["behavior"], r["target"], r["status"], r["examples_run"], json.dumps(r["example"]))
            for r in doc["results"]]


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The serial run every split run is compared with (each of those needs node too)."""
    from harness.targets import registry

    if not registry.create("node").installed():
        pytest.skip("node is not installed (python -m harness targets install)")
    return _pytest(tmp_path_factory.mktemp("serial"))


def test_xdist_run_equals_serial_run(serial: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    doc = _pytest(tmp_path, "-n", "2", "--dist", "loadgroup", "--xdist-groups", "1")
    assert len(doc["results"]) == 22
    assert _cells(doc) == _cells(serial)
    # one group: one worker runs every cell, so each runtime started once
    assert {name: t["processes_started"] for name, t in doc["targets"].items()} == {"impl": 1, "node": 1}
    for fmt in ("matrix.md", "matrix.html", "matrix.json", "matrix.junit.xml"):
        assert (tmp_path / fmt).is_file()


def test_groups_split_over_workers_equal_serial_run(serial: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    doc = _pytest(tmp_path, "-n", "3", "--dist", "loadgroup", "--xdist-groups", "3")
    assert _cells(doc) == _cells(serial)
    # a target starts once in each worker that took a group, never once per cell
    assert all(1 <= t["processes_started"] <= 3 for t in doc["targets"].values()), doc["targets"]
    assert sum(t["processes_started"] for t in doc["targets"].values()) > 2  # the groups went to several workers


def test_behaviors_dealt_by_their_durations_equal_serial_run(serial: dict[str, Any], tmp_path: Path) -> None:
    """A group per behavior, dealt by harness/lanes.py: the behavior the durations file calls
    longest (the file's last, which xdist's own order deals last) goes out first."""
    pytest.importorskip("xdist")
    from harness import durations

    last = serial["results"][-1]["behavior"]
    seconds = {r["behavior"]: {r["target"]: 0.01} for r in serial["results"]} | {last: {"impl": 60.0, "node": 60.0}}
    measured = tmp_path / "durations.json"
    measured.write_text(durations.dumps({"schema": durations.SCHEMA, "seconds": seconds}), encoding="utf-8")
    done = _run("-m", "pytest", *SLICE, "-n", "2", "--dist", "loadgroup", "-vv", f"--cell-durations={measured}",
                f"--report-dir={tmp_path}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "scheduling tests via Lanes" in done.stdout
    assert "not in" not in done.stdout  # every behavior measured: no word on refreshing the file
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert _cells(doc) == _cells(serial)
    ran = [line.split() for line in done.stdout.splitlines() if line.startswith("[gw") and "PASSED" in line]
    firsts = {words[-1] for words in ran if words[0] not in {w[0] for w in ran[:ran.index(words)]}}
    assert any(f"::{last}[" in cell for cell in firsts), firsts  # a worker's first cell
    # a behavior the file lacks is dealt as an estimate, and the summary says to refresh the file
    measured.write_text(durations.dumps({"schema": durations.SCHEMA, "seconds": {last: {"node": 1.0}}}),
                        encoding="utf-8")
    done = _run("-m", "pytest", *SLICE, "-n", "2", "--dist", "loadgroup", f"--cell-durations={measured}",
                f"--report-dir={tmp_path / 'again'}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"10 behavior(s) not in {measured}" in done.stdout, done.stdout[-2000:]


@pytest.mark.parametrize(("option", "plain"), [
    ({"dist": "loadgroup", "numprocesses": 8, "target": ["node"], "assertmode": "rewrite"}, True),
    ({"dist": "no", "numprocesses": None, "target": ["node"], "assertmode": "rewrite"}, False),  # no workers
    ({"dist": "loadgroup", "numprocesses": 3, "target": None, "assertmode": "rewrite"}, False),  # pytest tests -n 3
    ({"dist": "loadgroup", "numprocesses": 8, "target": ["node"], "assertmode": "plain"}, False),  # already plain
], ids=["suite-under-xdist", "serial-suite", "own-tests-under-xdist", "asked-plain"])
def test_workers_of_a_suite_run_skip_assertion_rewriting(option: dict[str, Any], plain: bool) -> None:
    assert parallel.plain_asserts_for_workers(SimpleNamespace(**option)) is plain


def test_behaviors_on_fixed_ports_share_one_group_across_targets() -> None:
    # bridge.close-frees-port listens on 28411/28412 on every target: when a target's cells had
    # groups of their own, bun and deno listened on it at once and one met EADDRINUSE (CI, stop 17)
    from harness.spec.loader import load_spec_file

    by_id = {b.id: b for b in load_spec_file(ROOT / "specs" / "bridge.yaml")}
    fixed = [b for b in by_id.values() if listens_on_fixed_port(b.scenario)]
    assert {b.id for b in fixed} == {"bridge.listen-taken-port", "bridge.close-frees-port"}
    groups = {parallel.group(b.id, b.feature, 24, listens_on_fixed_port(b.scenario)) for b in fixed}
    assert groups == {parallel.FIXED_PORTS_GROUP}
    routed = by_id["bridge.port-key-routing.http-server-handler"]  # a routing key on workerd only
    assert not listens_on_fixed_port(routed.scenario)
    assert not listens_on_fixed_port({"servers": [{"listen": 0}, {}]})
    # a client binding a local port of the spec's (localPort) takes it too; the origin's own does not
    assert listens_on_fixed_port({"client": {"args": [{"localPort": 21000}]}})
    assert listens_on_fixed_port({"client": {"args": [{}], "then": [{"args": [{"localPort": {"$given": "p"}}]}]}})
    assert not listens_on_fixed_port({"client": {"args": [{"localPort": {"$origin_port": True}}]}})


def test_app_ports_stay_off_the_ports_specs_listen_on() -> None:
    from harness.apps.serve import APP_PORTS, free_port

    taken = range(20000, 30000)  # bridge.yaml's keys on real sockets
    assert not set(APP_PORTS) & set(taken)
    assert all(free_port() not in taken for _ in range(50))


def test_two_shards_merged_equal_one_run(serial: dict[str, Any], tmp_path: Path) -> None:
    # one shard through pytest, the other through `python -m harness run`: the merge must not care
    first = _pytest(tmp_path / "1", "--shard", "1/2")
    done = _run("-m", "harness", "run", "--target", "impl", "--target", "node", "-k", "methods.",
                "--profile", "dev", "--seed", SEED, "--shard", "2/2", "--report-dir", str(tmp_path / "2"))
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert first["shard"] == "1/2" and 0 < len(first["results"]) < 22
    done = _run("-m", "harness", "merge", str(tmp_path / "1" / "results.json"),
                str(tmp_path / "2" / "results.json"), "--report-dir", str(tmp_path / "merged"))
    assert done.returncode == 0, done.stderr
    merged = json.loads((tmp_path / "merged" / "results.json").read_text(encoding="utf-8"))
    assert _cells(merged) == _cells(serial)
    assert merged["shard"] is None  # every shard of the split is there
    assert (tmp_path / "merged" / "matrix.html").is_file()
    for rec in merged["results"]:  # repro files come along, and the replay commands point at them
        if rec["repro_file"]:
            assert Path(rec["repro_file"]).is_absolute() or (ROOT / rec["repro_file"]).is_file()
            assert str(tmp_path / "merged" / "repro") in str(Path(rec["repro_file"]).resolve())


def test_shards_split_every_cell_once() -> None:
    cells = [(f"b{i}", t) for i in range(200) for t in ("impl", "node", "workerd@2025-09-15")]
    shards = [Shard(k, 3) for k in (1, 2, 3)]
    owners = [[s for s in shards if s.holds(b, t)] for b, t in cells]
    assert all(len(o) == 1 for o in owners)
    assert all(sum(1 for o in owners if o[0] == s) > 150 for s in shards)  # roughly even
    assert str(Shard.parse("2/3")) == "2/3"
    for bad in ("0/2", "3/2", "1/0", "a/b", "1"):
        with pytest.raises(BadShard):
            Shard.parse(bad)


def _doc(seed: int, cells: list[tuple[str, str]], shard: str | None = None) -> dict[str, Any]:
    """A small results document, as a run writes it."""
    return {
        "schema": SCHEMA, "harness_version": "0.1.0", "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:00:10+00:00", "wall_s": 10.0, "session_seed": seed,
        "hypothesis_profile": "ci", "fault": None, "oracle": None, "shard": shard, "apps": None, "causes": {},
        "targets": {t: {"kind": "runtime", "started": True, "wall_s": 1.0, "version": "1", "profile": "node",
                        "processes_started": 1} for t in dict.fromkeys(t for _, t in cells)},
        "results": [{"behavior": b, "title": b, "catalogue": [], "feature": "methods", "level": "required",
                     "target": t, "profile": "node", "status": "PASS", "message": "", "example": None,
                     "repro": [], "repro_file": None, "examples_run": 1, "statuses": {"PASS": 1},
                     "spec": f"specs/methods.yaml:{ord(b[-1])}", "seed": 1, "wall_s": 0.1, "differences": [],
                     "causes": [], "failures": [], "reruns": [], "notes": []} for b, t in cells],
    }


def test_merge_orders_cells_as_a_serial_run_and_sums_the_targets() -> None:
    a = _doc(7, [("m.b", "node"), ("m.a", "node")], shard="1/2")
    b = _doc(7, [("m.a", "impl")], shard="2/2")
    doc = merge([("b", b), ("a", a)])
    assert [(r["behavior"], r["target"]) for r in doc["results"]] == [("m.a", "impl"), ("m.a", "node"),
                                                                      ("m.b", "node")]
    assert doc["shard"] is None and list(doc["targets"]) == ["impl", "node"]
    partial = merge([("a", a)])
    assert partial["shard"] == "1/2" and partial["shards_missing"] == [2]


@pytest.mark.parametrize("second, refusal", [
    (_doc(8, [("m.b", "node")]), "different seeds"),
    (_doc(7, [("m.a", "node")]), "overlapping results"),
    ({**_doc(7, [("m.b", "node")]), "hypothesis_profile": "dev"}, "different Hypothesis profiles"),
    ({**_doc(7, [("m.b", "node")]), "harness_version": "0.2.0"}, "different harness versions"),
    (_doc(7, [("m.b", "node")], shard="2/3"), "different shard splits"),
])
def test_merge_refuses_parts_of_different_runs(second: dict[str, Any], refusal: str) -> None:
    with pytest.raises(MergeError, match=refusal):
        merge([("a", _doc(7, [("m.a", "node")], shard="1/2")), ("b", second)])


@pytest.mark.parametrize("second_seed, cells, refusal", [
    (8, [("m.b", "node")], "different seeds"),
    (7, [("m.a", "node")], "overlapping results"),
])
def test_merge_command_refuses_with_exit_2_and_writes_nothing(
        tmp_path: Path, second_seed: int, cells: list[tuple[str, str]], refusal: str) -> None:
    paths = []
    for name, doc in (("a", _doc(7, [("m.a", "node")])), ("b", _doc(second_seed, cells))):
        path = tmp_path / name / "results.json"
        path.parent.mkdir()
        path.write_text(json.dumps(doc), encoding="utf-8")
        paths.append(str(path))
    done = _run("-m", "harness", "merge", *paths, "--report-dir", str(tmp_path / "out"))
    assert done.returncode == 2
    assert refusal in done.stderr and "nothing written" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
