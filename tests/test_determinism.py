"""The same seed and profile give the same results file, cell for cell (issue 13): status,
example and observations (times, ports and pids left out, as `harness diff` does), twice in
a row, on impl and on node. A slice (-k client.headers, 18 behaviors) keeps it near 30 s."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.report import diff
from harness.report.results import read
from harness.targets.runtime import install

ROOT = Path(__file__).resolve().parents[1]


def run(report_dir: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--target", "impl", "--target", "node",
                           "--seed", "20261126", "--profile", "dev", "-k", "client.headers",
                           "--report-dir", str(report_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return read(report_dir / "results.json")


def test_same_seed_same_results(tmp_path: Path) -> None:
    if install.binary("node") is None:
        pytest.skip("node is not installed: run `python -m harness targets install node`")
    first, second = run(tmp_path / "one"), run(tmp_path / "two")
    cells = [(r["target"], r["behavior"]) for r in first["results"]]  # type: ignore[index]
    assert cells == [(r["target"], r["behavior"]) for r in second["results"]]  # type: ignore[index]
    assert {t for t, _ in cells} == {"impl", "node"} and len(cells) >= 30
    changed = diff.diff(first, second)
    assert changed == [], "\n".join(diff.lines(changed))
