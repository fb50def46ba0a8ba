"""Results -> matrix -> every renderer, and the gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.cli import main
from harness.report import gate as gating
from harness.report.matrix import build
from harness.report.render import RENDERERS, render_all
from harness.report.results import SCHEMA


def rec(behavior: str, target: str, status: str, feature: str = "headers") -> dict[str, Any]:
    return {"behavior": behavior, "title": behavior, "catalogue": [], "feature": feature, "level": "required",
            "target": target, "profile": "node", "status": status, "declared": False,
            "message": "m" if status != "PASS" else "", "example": None,
            "repro": ["python -m harness replay x.json"] if status != "PASS" else [], "repro_file": None,
            "examples_run": 1, "statuses": {status: 1}, "spec": "specs/x.yaml:3", "seed": 1, "wall_s": 0.1,
            "differences": []}


def doc(*records: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, "harness_version": "0", "started": "s", "finished": "f", "wall_s": 1,
            "session_seed": 7, "hypothesis_profile": "dev", "fault": None, "oracle": None,
            "targets": {"impl": {"version": "1", "profile": "fetch-backed"}, "node": {"version": "v", "profile": "node"}},
            "results": list(records)}


DOC = doc(rec("a.one", "impl", "PASS"), rec("a.one", "node", "PASS"), rec("b.two", "impl", "FAIL", "server"),
          rec("b.two", "node", "PASS", "server"), rec("c.three", "impl", "UNSUPPORTED", "trailers"))


def test_matrix_groups_and_counts() -> None:
    m = build(DOC)
    assert m.targets == ["impl", "node"] and list(m.features) == ["headers", "server", "trailers"]
    assert m.counts["impl"]["FAIL"] == 1 and m.counts["impl"]["UNSUPPORTED"] == 1 and m.counts["node"]["PASS"] == 2


def test_every_renderer(tmp_path: Path) -> None:
    paths = render_all(DOC, tmp_path)
    assert len(paths) == len(RENDERERS)
    md = (tmp_path / "matrix.md").read_text()
    assert "## server" in md and "| `b.two`" in md and "reproduce: `python -m harness replay x.json`" in md
    assert 'data-status="FAIL" style="background:#f7c6c6">' in (tmp_path / "matrix.html").read_text()
    assert json.loads((tmp_path / "matrix.json").read_text())["features"]["server"][0]["cells"]["impl"] == "FAIL"
    suites = ET.fromstring((tmp_path / "matrix.junit.xml").read_text())
    impl = suites.find("testsuite[@name='impl']")
    assert impl is not None and impl.get("failures") == "1" and impl.get("tests") == "3"


def test_gate_regression_improvement_missing() -> None:
    base = gating.baseline_from(DOC, "impl")
    assert gating.gate(DOC, base).ok
    worse = doc(rec("a.one", "impl", "FAIL"), rec("b.two", "impl", "PASS", "server"))
    report = gating.gate(worse, base)
    assert not report.ok
    assert report.regressions[0].startswith("a.one: PASS -> FAIL")
    assert report.improvements == ["b.two: FAIL -> PASS"] and report.missing == ["c.three"]
    skipped = doc(rec("a.one", "impl", "SKIP"), rec("b.two", "impl", "FAIL"), rec("c.three", "impl", "UNSUPPORTED"))
    assert gating.gate(skipped, base).regressions[0].startswith("a.one: PASS -> SKIP")


def test_cli_report_and_gate(tmp_path: Path, capsys: Any) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(DOC))
    assert main(["report", "--results", str(results), "--format", "md"]) == 0
    assert (tmp_path / "matrix.md").exists()
    baselines = tmp_path / "baselines"
    assert main(["gate", "--results", str(results), "--baselines", str(baselines), "--update"]) == 0
    assert main(["gate", "--results", str(results), "--baselines", str(baselines)]) == 0
    results.write_text(json.dumps(doc(rec("a.one", "impl", "ERROR"))))  # ERROR: the run cannot be judged
    assert main(["gate", "--results", str(results), "--baselines", str(baselines), "--target", "impl"]) == 2
    assert "regression: a.one: PASS -> ERROR" in capsys.readouterr().out


def test_cli_report_missing_results(tmp_path: Path, capsys: Any) -> None:
    assert main(["report", "--results", str(tmp_path / "nope.json")]) == 2
    assert "run the suite first" in capsys.readouterr().err


def test_gate_accepts_a_list_for_varying_behaviors() -> None:
    first = gating.baseline_from(DOC, "impl")
    second_run = doc(rec("a.one", "impl", "FAIL"), rec("b.two", "impl", "FAIL", "server"),
                     rec("c.three", "impl", "UNSUPPORTED", "trailers"))
    merged = gating.baseline_from(second_run, "impl", first)
    assert merged["statuses"]["a.one"] == ["FAIL", "PASS"] and merged["statuses"]["b.two"] == "FAIL"
    assert gating.gate(DOC, merged).ok and gating.gate(second_run, merged).ok
    worse = doc(rec("a.one", "impl", "TIMEOUT"), rec("b.two", "impl", "FAIL", "server"),
                rec("c.three", "impl", "UNSUPPORTED", "trailers"))
    assert gating.gate(worse, merged).regressions[0].startswith("a.one: FAIL|PASS -> TIMEOUT")
