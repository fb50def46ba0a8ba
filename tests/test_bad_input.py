"""Bad input refused (issue 13): each row runs a real command (`python -m harness ...` or
`pytest ...`) on a piece of bad input and checks the refusal: exit code 2, one paragraph on
stderr naming what was wrong, no traceback, and nothing written under the report folder.

README.md's "Bad input" table lists the same rows (test_readme_lists_every_row).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.report.results import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
SPEC = """\
feature: headers
behaviors:
  - id: demo.header-sent
    title: A header goes out as given
    level: required
    catalogue: [client.headers.case-preserved-on-wire]
    given:
      name: {strategy: header_name}
      value: {strategy: field_value}
    scenario:
      kind: client
      client:
        call: request
        args: [{host: {$origin_host: true}, port: {$origin_port: true}, path: /,
                headers: {$object: [[{$given: name}, {$given: value}]]}}]
        ops: [{op: end}]
      origin: {responses: [{status: 200, framing: content-length}]}
    expect:
      - at: request.headers
        contains: [{$given: name}, {$given: value}]
"""


@dataclass(frozen=True)
class Row:
    name: str  # the README's first column
    command: str  # the README's second column: what is run
    make: Callable[[Path], list[str]]  # sets the bad input up under tmp; the argv after `python`
    says: str  # a regex the error must match


def harness(tmp: Path, *args: str, specs: str = "specs", cases: str = "cases") -> list[str]:
    return ["-m", "harness", "--specs", str(tmp / specs), "--cases", str(tmp / cases), *args]


def run_k(tmp: Path, *extra: str) -> list[str]:
    return harness(tmp, "run", "-k", "demo", "--report-dir", str(tmp / "latest"), *extra)


def pytest_args(tmp: Path, *extra: str) -> list[str]:
    return ["-m", "pytest", "-p", "no:cacheprovider", "-q", f"--report-dir={tmp / 'latest'}", "-k", "nothing", *extra]


def spec(text: str) -> Callable[[Path], list[str]]:
    """`run` on a specs folder holding this one file."""
    def make(tmp: Path) -> list[str]:
        (tmp / "specs" / "headers.yaml").write_text(text)
        return run_k(tmp)
    return make


def results_file(content: str | None, command: str) -> Callable[[Path], list[str]]:
    """`command` given a results file holding content (None: no file)."""
    def make(tmp: Path) -> list[str]:
        path = tmp / "results.json"
        if content is not None:
            path.write_text(content)
        good = tmp / "good.json"
        good.write_text(json.dumps({"schema": SCHEMA, "results": []}))
        return {"report": harness(tmp, "report", "--results", str(path), "--out", str(tmp / "latest")),
                "gate": harness(tmp, "gate", "--results", str(path), "--baselines", str(tmp / "baselines")),
                "diff": harness(tmp, "diff", str(good), str(path))}[command]
    return make


def repro_file(content: str | None) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        path = tmp / "repro.json"
        if content is not None:
            path.write_text(content)
        return harness(tmp, "replay", str(path))
    return make


def not_installed(tmp: Path) -> list[str]:
    runtimes = tmp / "runtimes"  # the pins, without node_modules: nothing installed
    runtimes.mkdir()
    shutil.copy(ROOT / "runtimes" / "package.json", runtimes / "package.json")
    os.environ["HARNESS_RUNTIMES_DIR"] = str(runtimes)  # restored by the fixture
    return run_k(tmp, "--target", "node")


def missing_baseline(tmp: Path) -> list[str]:
    path = tmp / "results.json"
    path.write_text(json.dumps({"schema": SCHEMA, "results": [
        {"behavior": "demo.header-sent", "target": "impl", "status": "PASS", "message": ""}]}))
    return harness(tmp, "gate", "--results", str(path), "--baselines", str(tmp / "baselines"))


def duplicate(tmp: Path) -> list[str]:
    (tmp / "specs" / "more.yaml").write_text(SPEC)
    return run_k(tmp)


def unknown_case_behavior(tmp: Path) -> list[str]:
    (tmp / "cases" / "headers.yaml").write_text(
        "cases:\n  - behavior: demo.nosuch\n    name: one\n    given: {name: X-A, value: b}\n")
    return run_k(tmp)


def unreadable_specs(tmp: Path) -> list[str]:
    (tmp / "specs" / "headers.yaml").unlink()  # a folder with no spec in it
    return run_k(tmp)


def bad_durations(command: str) -> Callable[[Path], list[str]]:
    """`command` meeting a durations file of another schema (the scheduler's, or the one to update)."""
    def make(tmp: Path) -> list[str]:
        path = tmp / "durations.json"
        path.write_text(json.dumps({"schema": "node-http-conformance/durations/v0", "seconds": {}}))
        if command == "pytest":
            return pytest_args(tmp, "--target=impl", "-n", "2", "--dist", "loadgroup", f"--cell-durations={path}")
        results = tmp / "results.json"
        results.write_text(json.dumps({"schema": SCHEMA, "results": []}))
        return harness(tmp, "durations", "--results", str(results), "--out", str(path))
    return make


def other_schema(kind: str) -> str:
    return json.dumps({"schema": f"node-http-conformance/{kind}/v0", "results": []})


TRUNCATED = json.dumps({"schema": SCHEMA, "results": [{"behavior": "a", "target": "impl", "status": "PASS"}]})[:-9]
TRUNCATED_REPRO = json.dumps({"behavior": "demo.header-sent", "target": "impl", "inputs": {}})[:-6]

ROWS = [
    Row("unknown target", "run", lambda t: run_k(t, "--target", "nosuch"), r"unknown target 'nosuch'; known: impl"),
    Row("unknown target (pytest)", "pytest", lambda t: pytest_args(t, "--target=nosuch"), r"unknown target 'nosuch'"),
    Row("unknown fault", "run", lambda t: run_k(t, "--fault", "nosuch"), r"unknown fault 'nosuch'; known faults"),
    Row("unknown fault (pytest)", "pytest", lambda t: pytest_args(t, "--fault=nosuch"), r"unknown fault 'nosuch'"),
    Row("xdist groups below 1 (pytest)", "pytest", lambda t: pytest_args(t, "--xdist-groups=0"),
        r"--xdist-groups 0: expected a whole number of at least 1"),
    Row("durations file of another schema (pytest)", "pytest", bad_durations("pytest"),
        r"durations.json: not a durations file .*python -m harness durations"),
    Row("durations file of another schema", "durations", bad_durations("durations"),
        r"durations.json: not a durations file .*python -m harness durations"),
    Row("runtime not installed", "run", not_installed, r"target node is not installed: run `python -m harness "
        r"targets install node`"),
    Row("missing results file", "report", results_file(None, "report"), r"no such results file \(run the suite"),
    Row("truncated results file", "gate", results_file(TRUNCATED, "gate"), r"not JSON \(truncated\?\)"),
    Row("non-JSON results file", "diff", results_file("<html>", "diff"), r"the results file is not JSON"),
    Row("results of another schema", "report", results_file(other_schema("results"), "report"),
        r"schema 'node-http-conformance/results/v0', expected"),
    Row("missing repro file", "replay", repro_file(None), r"no such repro file"),
    Row("truncated repro file", "replay", repro_file(TRUNCATED_REPRO), r"repro file is not JSON \(truncated\?\)"),
    Row("non-JSON repro file", "replay", repro_file("not json"), r"the repro file is not JSON"),
    Row("repro of another schema", "replay", repro_file(other_schema("repro")), r"not a repro file of schema"),
    Row("missing baseline", "gate", missing_baseline, r"no baseline for impl at .*gate --update --target impl"),
    Row("missing baseline (run --gate)", "run", lambda t: run_k(t, "--gate", "--baselines", str(t / "none")),
        r"no baseline for impl at"),
    Row("malformed YAML", "run", spec(SPEC.replace("    given:", "    given: [")), r"headers.yaml:\d+"),
    Row("schema violation", "run", spec(SPEC.replace("level: required", "level: maybe")),
        r"headers.yaml:\d+ \[demo.header-sent\]: .*level"),
    Row("duplicate behavior id", "run", duplicate, r"demo.header-sent"),
    Row("unknown strategy", "run", spec(SPEC.replace("strategy: field_value", "strategy: nosuch")), r"nosuch"),
    Row("unknown op", "run", spec(SPEC.replace("op: end", "op: nosuch")), r"nosuch"),
    Row("unknown observation path", "run", spec(SPEC + "      - {at: props.nosuch, equals: 1}\n"),
        r"no client prop 'nosuch'"),
    Row("case naming an unknown behavior", "run", unknown_case_behavior, r"demo.nosuch"),
    Row("specs folder without specs", "run", unreadable_specs, r"specs folder .* holds no \*.yaml spec file"),
    Row("missing specs folder", "run", lambda t: harness(t, "run", specs="nosuch"), r"specs folder .*nosuch does not exist"),
]


@pytest.fixture
def tmp(tmp_path: Path) -> object:
    (tmp_path / "specs").mkdir()
    (tmp_path / "cases").mkdir()
    (tmp_path / "specs" / "headers.yaml").write_text(SPEC)
    latest = tmp_path / "latest"
    latest.mkdir()
    (latest / "results.json").write_text("a previous run\n")  # must survive every refusal
    saved = os.environ.get("HARNESS_RUNTIMES_DIR")
    yield tmp_path
    if saved is None:
        os.environ.pop("HARNESS_RUNTIMES_DIR", None)
    else:
        os.environ["HARNESS_RUNTIMES_DIR"] = saved


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_bad_input_is_refused(row: Row, tmp: Path) -> None:
    argv = row.make(tmp)
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    err = done.stderr.strip()
    assert done.returncode == 2, f"{row.name}: exit {done.returncode}\n{done.stdout[-2000:]}\n{err[-2000:]}"
    assert "Traceback" not in err + done.stdout
    assert re.search(row.says, err), f"{row.name}: {err!r}"
    said = err.splitlines()
    if row.command != "pytest":  # pytest frames its exit message itself
        assert len(said) == 1, f"{row.name}: not one paragraph: {err!r}"
    assert sorted(p.name for p in (tmp / "latest").iterdir()) == ["results.json"]
    assert (tmp / "latest" / "results.json").read_text() == "a previous run\n"


def readme_rows() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Bad input", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \| `([^`]+)` \|", section, re.M)
    return [(name, command) for name, command in rows if name != "bad input"]


def test_readme_lists_every_row() -> None:
    assert readme_rows() == [(r.name, r.command) for r in ROWS]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{len(ROWS)} bad inputs, each a clear error" in text


def test_a_reader_that_goes_away_gets_no_traceback() -> None:
    """`python -m harness lint | head -1`: the pipe closes under the printing, which stops quietly."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", "lint"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `head -1` exits
    err = proc.stderr.read().decode()
    proc.wait(30)
    assert "Traceback" not in err and "BrokenPipeError" not in err
