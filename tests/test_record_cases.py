"""--record-cases: a finding's generated example becomes a lint-clean named case, once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.cli import main
from harness.spec import load_all, load_case_file

ROOT = Path(__file__).resolve().parent.parent
PICK = "methods.uppercased"  # fails under the fault below, in well under a second
FAULT = "ignore-method"
HAND_WRITTEN = """\
# written by hand: kept as it is
cases:
  - behavior: methods.custom-token
    name: by-hand
    given: {token: PURGE}
"""


def run(tmp_path: Path, cases: Path, record: Path, label: str) -> str:
    """The status of the one cell of a CLI run."""
    main(["--specs", str(ROOT / "specs"), "--cases", str(cases), "run", "--target", "impl",
                 "--fault", FAULT, "--seed", "7", "--profile", "ci", "-k", PICK,
                 "--report-dir", str(tmp_path / label), "--record-cases", str(record)])
    [cell] = json.loads((tmp_path / label / "results.json").read_text(encoding="utf-8"))["results"]
    return str(cell["status"])


def test_a_finding_is_recorded_once_and_lint_clean(tmp_path: Path) -> None:
    record = tmp_path / "cases"
    record.mkdir()
    (record / "methods.yaml").write_text(HAND_WRITTEN, encoding="utf-8")
    assert run(tmp_path, record, record, "first") == "FAIL"  # the fault breaks it
    text = (record / "methods.yaml").read_text(encoding="utf-8")
    assert text.startswith(HAND_WRITTEN)
    recorded = [c for c in load_case_file(record / "methods.yaml") if c.behavior == PICK]
    assert len(recorded) == 1 and recorded[0].name.startswith("found-")
    assert f"FAIL on impl with fault {FAULT}" in text

    # Lint-clean: the case names a real behavior and gives all its inputs.
    [behavior] = [b for b in load_all(ROOT / "specs", record) if b.id == PICK]
    assert [c.name for c in behavior.cases] == [recorded[0].name]
    assert subprocess.run([sys.executable, "-m", "harness", "--cases", str(record), "lint"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300).returncode == 0

    # Again with the recorded case run first, and again from no cases (the same example is
    # drawn and shrunk again): nothing is added either time.
    assert run(tmp_path, record, record, "second") == "FAIL"
    empty = tmp_path / "none"
    empty.mkdir()
    assert run(tmp_path, empty, record, "third") == "FAIL"
    assert (record / "methods.yaml").read_text(encoding="utf-8") == text


def test_pytest_option_records_nothing_for_a_failing_named_case(tmp_path: Path) -> None:
    # Under pytest the project's cases run first; the one that fails is already a case.
    record = tmp_path / "cases"
    result = subprocess.run([sys.executable, "-m", "pytest", "specs", "--target=impl", f"--fault={FAULT}",
                             "-k", PICK, "-q", "-p", "no:cacheprovider", "--hypothesis-seed=7",
                             f"--report-dir={tmp_path / 'report'}", f"--record-cases={record}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "1 xfailed" in result.stdout, result.stdout + result.stderr
    assert not record.exists()


def _append_many(cases: str, worker: int) -> None:
    from harness.spec.record import CaseRecorder, _locked, case_name, case_text

    for i in range(12):
        given = {"token": f"W{worker}N{i}"} if i < 10 else {"token": "SAME"}  # the last two: every worker
        name = case_name(given)
        with _locked(Path(cases)):
            CaseRecorder._append(Path(cases) / "methods.yaml", case_text("methods.custom-token", name, given, "t"),
                                 "methods.custom-token", name, given)


def test_workers_recording_at_once_lose_no_case_and_add_none_twice(tmp_path: Path) -> None:
    # pytest-xdist workers each record into the same cases files: read, append, write back
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_append_many, args=(str(tmp_path), w)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert all(p.exitcode == 0 for p in workers)
    tokens = [c.given["token"] for c in load_case_file(tmp_path / "methods.yaml")]
    assert sorted(tokens) == sorted([f"W{w}N{i}" for w in range(4) for i in range(10)] + ["SAME"])
