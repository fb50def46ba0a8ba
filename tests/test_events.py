"""Run events: the runner emits one event per cell and one per run; the CLI and the pytest
plugin hand them to the same handlers, so both write the same results document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import settings

from harness.cli import main
from harness.events import CellFinished, Dispatcher, Handler, RunFinished
from harness.report.handlers import Gate
from harness.runner import Session
from harness.spec import load_all

ROOT = Path(__file__).resolve().parents[1]
BEHAVIORS = ("server.default-headers.date", "res.latin1-headers")  # quick, on the impl target


class Recorder(Handler):
    def __init__(self) -> None:
        self.cells: list[CellFinished] = []
        self.runs: list[RunFinished] = []

    def on_cell(self, event: CellFinished) -> None:
        self.cells.append(event)

    def on_run(self, event: RunFinished) -> None:
        self.runs.append(event)


def test_one_cell_event_per_cell_and_one_run_event() -> None:
    behaviors = [b for b in load_all(ROOT / "specs", ROOT / "cases") if b.id in BEHAVIORS]
    first, second = Recorder(), Recorder()
    session = Session(["impl"], session_seed=1, base_settings=settings(max_examples=2, deadline=None),
                      events=Dispatcher([first, second]))
    for b in behaviors:
        session.run_cell_and_emit(b, "impl")
    doc = session.finish("dev")
    assert [e.cell.behavior.id for e in first.cells] == [b.id for b in behaviors]
    assert [e.record for e in first.cells] == doc["results"] == session.records
    assert [e.document for e in first.runs] == [doc]
    assert second.cells == first.cells and second.runs == first.runs


def test_gate_handler_missing_baseline(tmp_path: Path) -> None:
    doc = {"results": [], "targets": {}}
    lines: list[str] = []
    gate = Gate(["impl"], tmp_path, lines.append)  # the same for pytest --gate, run --gate and gate
    gate.on_run(RunFinished(doc))
    assert gate.exit_code == 2 and not gate.ok
    assert lines[0] == f"gate impl: no baseline at {tmp_path / 'impl.json'} (create one with --update)"
    assert any(line.startswith("gate: the run cannot be judged: no baseline for impl") for line in lines)


def _shape(doc: dict[str, Any]) -> dict[str, Any]:
    return {"keys": sorted(doc), "record_keys": sorted({k for r in doc["results"] for k in r}),
            "target_keys": {t: sorted(i) for t, i in doc["targets"].items()},
            "cells": sorted((r["target"], r["behavior"], r["status"]) for r in doc["results"])}


def test_cli_and_plugin_write_the_same_document(tmp_path: Path) -> None:
    pick = "default-headers"  # a few server behaviors; both read -k as a substring of the id
    assert main(["--specs", str(ROOT / "specs"), "--cases", str(ROOT / "cases"), "run", "--target", "impl",
                 "--seed", "7", "-k", pick, "--report-dir", str(tmp_path / "cli")]) == 0
    run = subprocess.run([sys.executable, "-m", "pytest", "specs", "--target=impl", "-k", pick, "-q",
                          "-p", "no:cacheprovider", "--hypothesis-seed=7", f"--report-dir={tmp_path / 'pytest'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "node:http compatibility" in run.stdout and "wrote " in run.stdout
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    plugin = json.loads((tmp_path / "pytest" / "results.json").read_text())
    assert len(cli["results"]) >= 2 and _shape(cli) == _shape(plugin)
    for name in ("matrix.md", "matrix.html", "matrix.json", "matrix.junit.xml"):
        assert (tmp_path / "cli" / name).exists() and (tmp_path / "pytest" / name).exists()
