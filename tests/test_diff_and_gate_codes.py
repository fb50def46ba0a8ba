"""`harness diff` and the gate's exit codes on crafted results files (issue 12, items 6 and 8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report import gate as gating
from harness.report.results import SCHEMA


def cell(behavior: str, status: str, target: str = "impl", **more: Any) -> dict[str, Any]:
    return {"behavior": behavior, "target": target, "status": status, "message": more.pop("message", ""),
            "example": more.pop("example", None), "wall_s": more.pop("wall_s", 0.1), **more}


def write(path: Path, *cells: dict[str, Any], **meta: Any) -> str:
    path.write_text(json.dumps({"schema": SCHEMA, "targets": {}, "results": list(cells), **meta}))
    return str(path)


def test_diff_exit_codes_and_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write(tmp_path / "old.json", cell("a", "PASS"), cell("b", "FAIL", message="got 1 at 127.0.0.1:4000"),
                cell("c", "FAIL", example={"label": "generated", "inputs": {"n": 1}}))
    same = write(tmp_path / "same.json", cell("a", "PASS", wall_s=9.9), cell("b", "FAIL", message="got 1 at 127.0.0.1:5123"),
                 cell("c", "FAIL", example={"label": "generated", "inputs": {"n": 1}}))
    assert main(["diff", old, same]) == 0  # times and ports are not observations
    assert "0 cell(s) changed status" in capsys.readouterr().out
    new = write(tmp_path / "new.json", cell("a", "FAIL"), cell("b", "FAIL", message="got 1 at 127.0.0.1:4000"),
                cell("c", "FAIL", example={"label": "generated", "inputs": {"n": 2}}), cell("d", "PASS"))
    assert main(["diff", old, new]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 cell(s) changed status, 1 changed observations with the same status"
    assert "status  impl       a: PASS -> FAIL" in out and "status  impl       d: (absent) -> PASS" in out
    assert "    example.inputs.n: 1 -> 2" in out
    (tmp_path / "cut.json").write_text(Path(new).read_text()[:40])
    assert main(["diff", old, str(tmp_path / "cut.json")]) == 2
    assert "not JSON (truncated?)" in capsys.readouterr().err


def baselines(tmp_path: Path, **statuses: Any) -> str:
    base = tmp_path / "baselines"
    base.mkdir(exist_ok=True)
    (base / "impl.json").write_text(json.dumps({"schema": gating.BASELINE_SCHEMA, "target": "impl",
                                                "statuses": statuses}))
    return str(base)


@pytest.mark.parametrize(("cells", "meta", "code", "says"), [
    ([cell("a", "PASS"), cell("b", "FAIL")], {}, 0, "gate impl: PASS"),
    ([cell("a", "PASS"), cell("b", "PASS")], {}, 0, "improvement (update the baseline): b: FAIL -> PASS"),
    ([cell("a", "FAIL"), cell("b", "FAIL")], {}, 1, "regression: a: PASS -> FAIL"),
    ([cell("a", "ERROR", message="boom"), cell("b", "FAIL")], {}, 2, "1 ERROR cell(s) on impl, e.g. a: boom"),
    ([cell("a", "PASS")], {}, 2, "1 baselined behavior(s) of impl missing from the run"),
    ([cell("a", "PASS"), cell("b", "FAIL")], {"complete": False}, 2, "the run was interrupted"),
    ([cell("a", "PASS", target="node")], {}, 2, "target impl is missing from the run (it ran: node)"),
])
def test_gate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str], cells: list[dict[str, Any]],
                         meta: dict[str, Any], code: int, says: str) -> None:
    results = write(tmp_path / "results.json", *cells, **meta)
    assert main(["gate", "--results", results, "--baselines", baselines(tmp_path, a="PASS", b="FAIL"),
                 "--target", "impl"]) == code
    assert says in capsys.readouterr().out


def test_gate_without_baseline_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = write(tmp_path / "results.json", cell("a", "PASS"))
    assert main(["gate", "--results", results, "--baselines", str(tmp_path / "none")]) == 2
    assert "no baseline for impl" in capsys.readouterr().err


def test_update_merge_keeps_behaviors_absent_from_the_new_run(tmp_path: Path) -> None:
    base = baselines(tmp_path, a="PASS", b="FAIL", c="UNSUPPORTED")
    results = write(tmp_path / "results.json", cell("a", "FAIL"))  # a -k slice: b and c did not run
    assert main(["gate", "--results", results, "--baselines", base, "--update", "--merge", "--target", "impl"]) == 0
    kept = json.loads((Path(base) / "impl.json").read_text())["statuses"]
    assert kept == {"a": ["FAIL", "PASS"], "b": "FAIL", "c": "UNSUPPORTED"}
