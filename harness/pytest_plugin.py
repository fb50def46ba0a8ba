"""pytest glue: collection of specs/*.yaml, options, one runner cell per item.

One item per behavior per target, named `<behavior id>[<target>]`, marked with its
feature. A cell's status gives the item's outcome through harness/status.py (README,
"What fails the pytest run"); a finding fails on the baseline target `node` at level
`required` (the spec is wrong, or Node regressed), else it is xfailed (failed with
--findings=fail); a FLAKY cell (its failing example passed on a rerun) is xfailed. The
failure text names each failing `expect` entry by file:line, with its YAML and its cause.
The run's events go to the shared handlers (harness/report/handlers.py):
results.json and the matrix under --report-dir, and with --gate, a comparison with
reports/baselines/<target>.json that fails the run on regression; with --record-cases, each
finding's generated example appended to the cases (harness/spec/record.py).

Under pytest-xdist (`pytest -n W --dist loadgroup`) each behavior is an xdist group with
every target's items of it (an app's behaviors share one), dealt out to the workers by their
measured durations (harness/lanes.py); each worker starts the targets it meets, once, and
hands its records to the controller (harness/parallel.py), which writes the one results.json,
matrix, summary and gate.
`--shard K/N` keeps a deterministic 1/N of the cells (harness/shard.py).
"""

from __future__ import annotations

import gc
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import harness.unrewritten  # noqa: F401 - first: the modules below load past pytest's assertion rewriting
from harness import durations, parallel, profiles
from harness.errors import BadInput, paragraph
from harness.events import Dispatcher, Handler, RunFinished
from harness.inputs import SIDE_BY_SIDE_HELP, check_fault, check_targets
from harness.report.handlers import Gate, ReportWriter, Summary
from harness.runner import BASELINE, CellResult, Session, replay_order, repro_commands
from harness.scenario import listens_on_fixed_port, to_json
from harness.shard import Shard
from harness.spec import Behavior, Case, SpecError, load_case_file, load_spec_file
from harness.spec.causes import CAUSES_FILE, load_causes
from harness.spec.loader import NOT_BEHAVIOR_FILES, attach_cases
from harness.spec.record import CaseRecorder
from harness.status import DEFAULT_RERUNS, STATUS, Kind, Outcome
from harness.targets import registry
from harness.watchdog import SCENARIO_TIMEOUT_HELP, SCENARIO_TIMEOUT_S

profiles.register()  # before Hypothesis's own plugin loads --hypothesis-profile


@dataclass
class RunState:
    session: Session
    gate: Gate | None
    summary: list[str] = field(default_factory=list)  # shown at the end of the terminal report
    cases: list[Case] | None = None


STATE = pytest.StashKey[RunState]()
SEED = pytest.StashKey[int]()


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
    group.addoption("--scenario-timeout", type=float, default=SCENARIO_TIMEOUT_S, metavar="S",
                    help=SCENARIO_TIMEOUT_HELP)
    group.addoption("--record-cases", nargs="?", const="cases", default=None, metavar="DIR",
                    help="append each finding's generated example to DIR/<spec file> as a named case "
                         "(default DIR: cases)")
    group.addoption("--reruns", type=int, default=DEFAULT_RERUNS, metavar="N",
                    help=f"run a failing example N more times; unless it fails every time the cell is "
                         f"FLAKY (default {DEFAULT_RERUNS})")
    group.addoption("--xdist-groups", type=int, default=None, metavar="N",
                    help="under pytest-xdist (-n W --dist loadgroup), fold the behaviors into N hashed groups that "
                         "workers take one at a time (default: a group per behavior, every target's cells of it)")
    group.addoption("--cell-durations", default=str(durations.FILE), metavar="FILE",
                    help="under --dist loadgroup, deal the behaviors out to the workers by the cell durations "
                         f"measured in FILE (default {durations.FILE}; write it with `python -m harness "
                         "durations`); 'none': in xdist's own order")
    group.addoption("--side-by-side", action="store_true", help=SIDE_BY_SIDE_HELP)
    group.addoption("--shard", default=None, metavar="K/N",
                    help="run the K-th of N deterministic parts of the cells (by behavior and target); "
                         "needs --hypothesis-seed; join the parts with: python -m harness merge")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("hypothesis_profile", None):
        from hypothesis import settings  # here: harness.unrewritten must come first

        settings.load_profile(profiles.DEFAULT)
    config.addinivalue_line("markers", "node_http: a node:http behavior item")
    try:  # bad input (target, fault, shard, baseline) stops the run before anything starts (exit 2, as the CLI)
        targets = config.getoption("target") or []
        check_targets(targets)
        check_fault(config.getoption("fault"))
        shard = config.getoption("shard")
        if shard is not None:
            Shard.parse(shard)
            if config.getoption("hypothesis_seed", None) in (None, ""):
                raise BadInput(f"--shard {shard} needs --hypothesis-seed=N: the shards of one run must generate "
                               f"the same inputs (python -m harness merge refuses results of different seeds)")
        if config.getoption("xdist_groups") is not None and config.getoption("xdist_groups") < 1:
            raise BadInput(f"--xdist-groups {config.getoption('xdist_groups')}: expected a whole number of at least 1")
        if config.getoption("gate"):
            for target in targets or [registry.default_target()]:
                if not (_baselines(config) / f"{target}.json").is_file():
                    raise BadInput(f"no baseline for {target} in {_baselines(config)}: run without --gate, or "
                                   f"accept a run with `python -m harness gate --update --target {target}`")
        parallel.configure(config)
    except BadInput as exc:
        pytest.exit(paragraph(str(exc)), returncode=2)


def _baselines(config: pytest.Config) -> Path:
    return Path(config.rootpath) / "reports" / "baselines"


def _state(config: pytest.Config) -> RunState:
    """Per-run state, created on first use so that `pytest tests/` never starts anything."""
    state = config.stash.get(STATE, None)
    if state is None:
        state = config.stash[STATE] = _new_state(config)
    return state


def session_seed(config: pytest.Config) -> int:
    """The run's seed: --hypothesis-seed, else one drawn once; an xdist worker takes the
    controller's (harness/parallel.py), so every worker generates the inputs of a serial run."""
    handed = parallel.handed_seed(config)
    if handed is not None:
        return handed
    if SEED not in config.stash:
        seed = config.getoption("hypothesis_seed", None)
        config.stash[SEED] = int(seed) if seed not in (None, "") else random.getrandbits(32)
    return config.stash[SEED]


def _new_state(config: pytest.Config) -> RunState:
    root = Path(config.rootpath)
    report_dir = root / config.getoption("report_dir")  # an absolute option wins over root
    targets = config.getoption("target") or [registry.default_target()]
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def log(msg: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[node-http] {msg}")

    try:
        causes = load_causes(root / "specs" / CAUSES_FILE)
    except SpecError as exc:
        raise pytest.UsageError(f"malformed causes file: {exc}") from None
    summary: list[str] = []
    gate = Gate(targets, _baselines(config), summary.append) if config.getoption("gate") else None
    handlers: list[Handler] = [Summary(summary.append), ReportWriter(report_dir, summary.append)]
    if config.getoption("record_cases"):
        handlers.append(CaseRecorder(root / config.getoption("record_cases"), log, config.getoption("fault")))
    from hypothesis import settings  # here: harness.unrewritten must come first

    session = Session(targets, session_seed=session_seed(config), base_settings=settings.default,
                      fault=config.getoption("fault"), report_dir=report_dir,
                      oracle=config.getoption("oracle"), log=log,
                      events=Dispatcher([*handlers, *([gate] if gate else [])]),
                      causes=causes, reruns=config.getoption("reruns"),
                      scenario_timeout=config.getoption("scenario_timeout"), shard=config.getoption("shard"))
    return RunState(session, gate, summary)


def _cases(config: pytest.Config) -> list[Case]:
    state = _state(config)
    if state.cases is None:
        cases_dir = Path(config.rootpath) / "cases"
        state.cases = [c for p in sorted(cases_dir.rglob("*.yaml")) for c in load_case_file(p)] \
            if cases_dir.is_dir() else []
    return state.cases


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
            group = parallel.group(behavior.id, behavior.feature, self.config.getoption("xdist_groups"),
                                   listens_on_fixed_port(behavior.scenario))
            for target in replay_order(_state(self.config).session.target_names):
                item = BehaviorItem.from_parent(self, name=f"{behavior.id}[{target}]",
                                                behavior=behavior, target=target)
                item.add_marker(behavior.feature.split(".")[0])  # apps.<app> -> apps (-k picks an app)
                item.add_marker("node_http")
                item.add_marker(pytest.mark.xdist_group(group))  # --dist loadgroup: harness/lanes.py
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


def _where(cell: CellResult) -> str:
    """` at <file:line>` of the first failing expect entry, if any."""
    failures = cell.example.verdict.failures if cell.example is not None else []
    return f" at {failures[0].written.location}" if failures else ""


class BehaviorItem(pytest.Item):
    def __init__(self, *, behavior: Behavior, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.behavior = behavior
        self.target = target
        self.then: list[str] = []  # the targets of the items of this behavior right after it (side by side)

    def runtest(self) -> None:
        session = _state(self.config).session
        cell = session.run_cell_and_emit(self.behavior, self.target, self.then)
        self.user_properties.append(("status", cell.status))
        outcome = STATUS[cell.status].outcome
        if outcome is Outcome.PASSED:
            return
        if outcome is Outcome.SKIPPED:
            pytest.skip(f"SKIP on {self.target}: {cell.message}")
        if outcome is Outcome.XFAILED:
            pytest.xfail(f"{cell.status}{_where(cell)}: {cell.message[:300]}")
        text = self._describe(cell, session)
        if outcome is Outcome.FINDING:
            baseline_fault = self.target == BASELINE and self.behavior.level == "required"
            if not baseline_fault and self.config.getoption("findings") == "xfail":
                pytest.xfail(f"{cell.status} (finding){_where(cell)}: {cell.message[:300]}")
        raise BehaviorFinding(cell, text)

    def _describe(self, cell: CellResult, session: Session) -> str:
        b = self.behavior
        lines = [f"{b.id} on {self.target}: {cell.status}", f"spec: {b.location}  ({b.title})"]
        if self.target == BASELINE and STATUS[cell.status].kind is Kind.FINDING:
            lines.append("Node is the baseline: a required behavior that fails on Node means the spec is wrong.")
        ex = cell.example
        if ex is not None:
            lines.append(f"example ({ex.label}): {json.dumps(to_json(ex.inputs), ensure_ascii=False)[:1500]}")
            for failure in ex.verdict.failures:  # where each failing entry is written, as Tavern shows it
                lines.append(f"{failure.written.location}: cause {failure.cause}")
                lines += [f"    {line}" for line in failure.written.text.splitlines()]
                lines.append(f"  expected/observed: {failure.message}")
            if not ex.verdict.failures:
                lines.append(ex.verdict.message)
        else:
            lines.append(cell.message)
        if cell.reruns:
            lines.append(f"reruns of the example: {', '.join(cell.reruns)}")
        lines.append(f"examples run: {cell.examples_run} {cell.statuses}")
        for cmd in repro_commands(cell, session.fault, session.session_seed):
            lines.append(f"reproduce: {cmd}")
        return "\n".join(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        # An xfail is formatted too (pytest makes its report before it sees the xfail): a
        # traceback with source costs ~0.1 s, and nobody reads it (its reason is the message).
        if isinstance(excinfo.value, (BehaviorFinding, pytest.xfail.Exception)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.behavior.line or 1) - 1, f"{self.behavior.id} [{self.target}]"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--shard K/N: deselect the cells of the other shards. Under xdist with --side-by-side: mix the spec files."""
    if parallel.is_worker(config) and config.getoption("side_by_side"):
        items[:] = parallel.mixed(items)
    if config.getoption("shard") is None:
        return
    shard = Shard.parse(config.getoption("shard"))
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        other = isinstance(item, BehaviorItem) and not shard.holds(item.behavior.id, item.target)
        (dropped if other else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection built (specs, items, Hypothesis's and the harness's modules): it
    lives to the end, and each full collection would walk it again (a serial node run spent 3.4 s
    of ~40 s CPU in the collector). Only when cells will run: `pytest tests` keeps the default.
    With --side-by-side, also tell each behavior's first item which cells to start."""
    if any(isinstance(item, BehaviorItem) for item in session.items):
        gc.freeze()
    if session.config.getoption("side_by_side") and getattr(session.config.option, "dist", "no") in ("no", "loadgroup"):
        _plan_side_by_side(session.items)  # under loadgroup a behavior's items stay on one worker


def _plan_side_by_side(items: list[pytest.Item]) -> None:
    """The first item of each run of one behavior's items starts the others' cells once its own
    has drawn the inputs (Session.run_cell_and_emit)."""
    first: BehaviorItem | None = None
    for item in items:
        if not isinstance(item, BehaviorItem):
            first = None
        elif first is not None and item.behavior.id == first.behavior.id:
            first.then.append(item.target)
        else:
            first = item


def pytest_unconfigure(config: pytest.Config) -> None:
    """pytest's unraisable-exception cleanup runs five full collections after this hook: over a
    suite process's heap that cost ~1 s CPU per xdist process. Frozen, the heap is not walked;
    a process that ran cells ends here, so nothing is left to free."""
    state = config.stash.get(STATE, None)
    if state is not None and state.session.records:
        gc.freeze()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    profile = config.getoption("hypothesis_profile", None) or profiles.DEFAULT
    if parallel.is_worker(config):  # the controller writes the reports
        state = config.stash.get(STATE, None)
        if state is not None and state.session.records:
            parallel.send(config, state.session, profile)
        return
    if parallel.is_controller(config):
        doc = parallel.gathered(config)
        if doc is None:
            return
        state = _state(config)
        state.session.events.emit(RunFinished(doc))
    else:
        state = config.stash.get(STATE, None)
        if state is None or not state.session.records:
            return
        state.session.finish(profile, complete=exitstatus != pytest.ExitCode.INTERRUPTED)
    if state.gate is not None and state.gate.exit_code:  # 1 regressed, 2 cannot be judged, as `gate`
        session.exitstatus = state.gate.exit_code


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.summary:
        return
    terminalreporter.section("node:http compatibility")
    for line in state.summary:
        terminalreporter.write_line(line)
