"""pytest glue: collection of specs/*.yaml, options, and a call into harness.runner.

One item per behavior per target, named `<behavior id>[<target>]`, marked with its
feature. Outcomes (documented in README, "What fails the pytest run"):
  PASS / UNSUPPORTED / NOOP  -> passed
  SKIP                       -> skipped
  ERROR                      -> failed (the harness or its set-up broke)
  FAIL / TIMEOUT / CRASH     -> failed on the baseline target `node` at level `required`
                                (the spec is wrong, or Node regressed); otherwise xfailed
                                as a finding, or failed with --findings=fail
At the end: results.json and the matrix in every format under --report-dir, and with
--gate, a comparison with reports/baselines/<target>.json that fails the run on regression.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from harness.report import gate as gating
from harness.report import results as store
from harness.report.render import render_all
from harness.runner import CellResult, Session, repro_commands
from harness.scenario import to_json
from harness.spec import Behavior, SpecError, load_case_file, load_spec_file
from harness.spec.loader import NOT_BEHAVIOR_FILES, attach_cases
from harness.targets import registry
from harness.verdict import FINDINGS

BASELINE_TARGET = "node"

settings.register_profile("dev", max_examples=10, deadline=None)
settings.register_profile("ci", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=200, deadline=None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("node-http", "node:http conformance harness")
    group.addoption("--target", action="append", default=None, metavar="NAME",
                    help="target to run the specs on (repeatable; default: impl)")
    group.addoption("--report-dir", default="reports/latest", metavar="DIR",
                    help="where results.json and the matrix go (default: reports/latest)")
    group.addoption("--fault", default=None, metavar="NAME",
                    help="inject a fault into the impl target (see: python -m harness faults)")
    group.addoption("--oracle", default=None, metavar="TARGET",
                    help="differential mode: also run each failing/last example on TARGET (e.g. node)")
    group.addoption("--findings", choices=["xfail", "fail"], default="xfail",
                    help="how a finding (FAIL/TIMEOUT/CRASH) on a non-baseline target is reported")
    group.addoption("--gate", action="store_true",
                    help="fail the run if a target regressed against reports/baselines/<target>.json")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile("dev")
    config.addinivalue_line("markers", "node_http: a node:http behavior item")
    config._node_http = None  # type: ignore[attr-defined]


def _state(config: pytest.Config) -> dict[str, Any]:
    """Per-run state, created on first use so that `pytest tests/` never starts anything."""
    state = config._node_http  # type: ignore[attr-defined]
    if state is None:
        seed = config.getoption("hypothesis_seed", None)
        session_seed = int(seed) if seed not in (None, "") else random.getrandbits(32)
        report_dir = Path(config.getoption("report_dir"))
        if not report_dir.is_absolute():
            report_dir = Path(config.rootpath) / report_dir
        targets = config.getoption("target") or [registry.default_target()]
        reporter = config.pluginmanager.get_plugin("terminalreporter")

        def log(msg: str) -> None:
            if reporter is not None:
                reporter.write_line(f"[node-http] {msg}")

        state = {
            "session": Session(targets, session_seed=session_seed, base_settings=settings.default,
                               fault=config.getoption("fault"), report_dir=report_dir,
                               oracle=config.getoption("oracle"), log=log),
            "targets": targets, "records": [], "report_dir": report_dir, "cases": None,
        }
        config._node_http = state  # type: ignore[attr-defined]
    return state


def _cases(config: pytest.Config) -> list[Any]:
    state = _state(config)
    if state["cases"] is None:
        cases_dir = Path(config.rootpath) / "cases"
        state["cases"] = [c for p in sorted(cases_dir.rglob("*.yaml")) for c in load_case_file(p)] \
            if cases_dir.is_dir() else []
    return state["cases"]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    specs_dir = Path(parent.config.rootpath) / "specs"
    if file_path.suffix == ".yaml" and file_path.parent == specs_dir and file_path.name not in NOT_BEHAVIOR_FILES:
        return SpecFile.from_parent(parent, path=file_path)
    return None


class SpecFile(pytest.File):
    def collect(self) -> Any:
        try:
            behaviors = load_spec_file(self.path)
            cases = [c for c in _cases(self.config) if c.behavior in {b.id for b in behaviors}]
            attach_cases(behaviors, cases)
        except SpecError as exc:
            raise _SpecCollectError(str(exc)) from None
        for behavior in behaviors:
            for target in _state(self.config)["targets"]:
                item = BehaviorItem.from_parent(self, name=f"{behavior.id}[{target}]",
                                                behavior=behavior, target=target)
                item.add_marker(behavior.feature)
                item.add_marker("node_http")
                yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, _SpecCollectError):
            return f"malformed spec: {excinfo.value}"
        return str(super().repr_failure(excinfo))


class _SpecCollectError(Exception):
    pass


class BehaviorFinding(Exception):
    def __init__(self, cell: CellResult, text: str):
        super().__init__(text)
        self.cell = cell


class BehaviorItem(pytest.Item):
    def __init__(self, *, behavior: Behavior, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.behavior = behavior
        self.target = target

    def runtest(self) -> None:
        state = _state(self.config)
        session: Session = state["session"]
        cell = session.run_cell(self.behavior, self.target)
        profile = session.profile(self.target)
        state["records"].append(store.record(cell, session, profile))
        self.user_properties.append(("status", cell.status))
        if cell.status in ("PASS", "UNSUPPORTED", "NOOP"):
            return
        if cell.status == "SKIP":
            pytest.skip(f"SKIP on {self.target}: {cell.message}")
        text = self._describe(cell, session)
        if cell.status in FINDINGS:
            baseline_fault = self.target == BASELINE_TARGET and self.behavior.level == "required"
            if not baseline_fault and self.config.getoption("findings") == "xfail":
                pytest.xfail(f"{cell.status} (finding): {cell.message[:300]}")
        raise BehaviorFinding(cell, text)

    def _describe(self, cell: CellResult, session: Session) -> str:
        b = self.behavior
        lines = [f"{b.id} on {self.target}: {cell.status}", f"spec: {b.location}  ({b.title})"]
        if self.target == BASELINE_TARGET and cell.status in FINDINGS:
            lines.append("Node is the baseline: a required behavior that fails on Node means the spec is wrong.")
        ex = cell.example
        if ex is not None:
            lines.append(f"example ({ex.label}): {json.dumps(to_json(ex.inputs), ensure_ascii=False)[:1500]}")
            for failure in ex.verdict.failures or [ex.verdict.message]:
                lines.append(f"  expected/observed: {failure}")
        else:
            lines.append(cell.message)
        lines.append(f"examples run: {cell.examples_run} {cell.statuses}")
        for cmd in repro_commands(cell, session.fault, session.session_seed):
            lines.append(f"reproduce: {cmd}")
        return "\n".join(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, BehaviorFinding):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.behavior.line or 1) - 1, f"{self.behavior.id} [{self.target}]"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config._node_http  # type: ignore[attr-defined]
    if state is None or not state["records"]:
        return
    runner: Session = state["session"]
    runner.close()
    profile = session.config.getoption("hypothesis_profile", None) or "dev"
    doc = store.document(runner, state["records"], profile)
    path = store.write(doc, state["report_dir"])
    written = [path, *render_all(doc, state["report_dir"])]
    state["written"] = written
    if session.config.getoption("gate"):
        reports = []
        for target in state["targets"]:
            baseline = Path(session.config.rootpath) / "reports" / "baselines" / f"{target}.json"
            if baseline.exists():
                reports.append(gating.gate(doc, gating.load_baseline(baseline)))
        state["gate"] = reports
        if any(not r.ok for r in reports):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config._node_http  # type: ignore[attr-defined]
    if state is None or not state.get("written"):
        return
    tr = terminalreporter
    tr.section("node:http compatibility")
    counts: dict[str, dict[str, int]] = {}
    for rec in state["records"]:
        per = counts.setdefault(rec["target"], {})
        per[rec["status"]] = per.get(rec["status"], 0) + 1
    info = state["session"].versions()
    for target, per in counts.items():
        examples = sum(r["examples_run"] for r in state["records"] if r["target"] == target)
        t = info.get(target, {})
        procs = f", {t['processes_started']} process(es) started" if "processes_started" in t else ""
        tr.write_line(f"{target}: " + ", ".join(f"{n} {s}" for s, n in sorted(per.items()))
                      + f"  [{examples} examples, {t.get('wall_s', 0):.1f} s{procs}]")
    for path in state["written"]:
        tr.write_line(f"wrote {path}")
    for report in state.get("gate", []):
        for line in report.lines():
            tr.write_line(line)
