"""The runner: behaviors x targets -> cell results. Used by the pytest plugin and the CLI.

One Session per run: the origin/raw-client WireRecord and each target start once and serve
every scenario. A cell (one behavior on one target) runs the behavior's named cases,
then Hypothesis-generated inputs from a seed derived from the session seed and the
behavior id, so every target sees the same inputs (drawn once and replayed on the next
targets of the same behavior, see DrawnInputs: drawing costs more CPU than running). A finding (FAIL, TIMEOUT, CRASH) or
ERROR stops generation; FAIL examples are shrunk to a minimal one. The finding's example is
then run again (`reruns` times): unless it fails every time, the cell is FLAKY.
"""

from __future__ import annotations

import ast
import concurrent.futures
import functools
import hashlib
import json
import shlex
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Flaky, HypothesisException

from harness.events import CellFinished, Dispatcher, Document, Record, RunFinished
from harness.observations import Json, Observations, RunStatus, WireRecord
from harness.running import Running
from harness.scenario import bind_origin, build, listens_on_fixed_port, to_json
from harness.spec.causes import Cause
from harness.spec.model import Behavior
from harness.status import DEFAULT_RERUNS, STATUS, Kind
from harness.targets import registry
from harness.targets.base import Exchange, Target, TargetCrashed, TargetUnavailable
from harness.verdict import Verdict, verdict, worst
from harness.vocabulary import timing
from harness.watchdog import SCENARIO_TIMEOUT_S, ScenarioTimeout, within

if TYPE_CHECKING:  # the wire starts a loop thread on import of its users only: imported lazily
    from harness.apps.run import AppRunner
    from harness.verdict import Note
    from harness.wire import Wire


@dataclass
class Example:
    label: str  # case name or "generated"
    inputs: Mapping[str, Any]
    scenario: Json
    observations: Observations
    verdict: Verdict
    differences: list[str] = field(default_factory=list)  # vs the oracle, in differential mode


@dataclass
class CellResult:
    behavior: Behavior
    target: str
    status: str
    message: str
    seed: int
    examples_run: int = 0
    example: Example | None = None  # the minimal failing example, or the last one run
    statuses: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    repro_file: str | None = None
    differences: list[str] = field(default_factory=list)
    reruns: list[str] = field(default_factory=list)  # the statuses of the example's reruns
    notes: list[Note] = field(default_factory=list)  # app behaviors: differences beside the status

    @property
    def causes(self) -> list[str]:
        """The causes of a finding (or of the failing run of a FLAKY cell)."""
        shown = STATUS[self.status].kind in (Kind.FINDING, Kind.FLAKY)
        return self.example.verdict.causes if shown and self.example is not None else []


MAX_NOTES = 12  # notes kept per cell (app behaviors), the first ones found


class _Finding(Exception):
    def __init__(self, example: Example):
        super().__init__(example.verdict.message)
        self.example = example


def not_run(kind: str, status: RunStatus, detail: str) -> Observations:
    """The observations of a scenario that did not run to the end (skipped, timeout, crash,
    error): status and detail, every other key empty (the shapes of SCENARIO.md)."""
    if kind == "server":
        return {"status": status, "detail": detail, "servers": [], "requests": [], "wire": {"responses": []}}
    if kind == "app":
        return {"status": status, "detail": detail, "app_error": None, "oracle": None, "wire": {"responses": []}}
    return {"status": status, "detail": detail, "threw": None, "calls": [], "events": [], "response": None,
            "body": {"$bytes": ""}, "chunks": [], "props": {}, "more": [], "agents": {}}


def no_free_port(scenario: Json, obs: Observations) -> Observations | None:
    """ERROR observations when a server's listen(0) failed with EADDRINUSE: the machine had
    no free port, which says nothing of the target. Every connection leaves a TIME_WAIT for
    60 s on the side that closed first, in the ephemeral range bind(0) takes from: ~26,000
    of its 28,232 ports at the peak of a five-target ci run on 2 cores (`ss -s`, session 26)."""
    for server, seen in zip(scenario.get("servers") or [], obs.get("servers") or [], strict=False):
        error = seen.get("listen_error") if isinstance(seen, dict) else None
        if server.get("listen") == 0 and isinstance(error, dict) and error.get("code") == "EADDRINUSE":
            return {**obs, "status": "error", "detail": (
                "listen(0) failed with EADDRINUSE: no free port on 127.0.0.1 (the ephemeral range "
                "full of TIME_WAIT sockets? `ss -s`); fewer workers (-n) or a wider "
                "net.ipv4.ip_local_port_range (README \"Ports\")")}
    return None


REPRO_SCHEMA = "node-http-conformance/repro/v1"  # of the files _write_repro writes


class DrawnInputs:
    """The inputs Hypothesis drew for a behavior and seed, in order, kept for the next target:
    drawing costs more CPU than many exchanges. Whole (`complete`) when the cell passed,
    else up to and including the first failing example's. A few behaviors only: a run's
    items go behavior by behavior, every target of one behavior in a row."""

    KEEP = 4

    def __init__(self) -> None:
        self._lists: dict[tuple[str, int, int], tuple[list[Mapping[str, Any]], bool]] = {}
        self._lock = threading.Lock()  # cells of one behavior may run side by side

    def get(self, key: tuple[str, int, int]) -> tuple[list[Mapping[str, Any]], bool]:
        with self._lock:
            return self._lists.get(key, ([], False))

    def put(self, key: tuple[str, int, int], inputs: list[Mapping[str, Any]], complete: bool) -> None:
        with self._lock:
            known, was_complete = self._lists.get(key, ([], False))
            if was_complete or len(known) > len(inputs):
                return
            self._lists.pop(key, None)
            self._lists[key] = (list(inputs), complete)
            while len(self._lists) > self.KEEP:
                del self._lists[next(iter(self._lists))]


BASELINE = "node"  # Node: what every spec describes, and a required behavior must pass there


def replay_order(targets: list[str]) -> list[str]:
    """The order a behavior's cells run in: the baseline first. A target's drawn inputs go to
    the next ones whole only when it passed them all (DrawnInputs), and Node passes nearly every
    behavior, while a target that fails part-way leaves the next to draw them again."""
    return sorted(targets, key=lambda name: name != BASELINE)


def _one_parse_at_a_time() -> None:
    """Cells run side by side, and Hypothesis reads the source of the lambdas in a strategy with
    ast.parse; on CPython before 3.13 two parses on two threads at once can fail with
    "SystemError: AST constructor recursion depth mismatch" (the depth is kept per interpreter):
    three impl cells came out "did not reproduce on replay" under -n 8. Parses take turns."""
    if sys.version_info >= (3, 13) or getattr(ast.parse, "one_at_a_time", False):
        return
    parse, lock = ast.parse, threading.Lock()

    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    locked.one_at_a_time = True  # type: ignore[attr-defined]
    ast.parse = locked


_one_parse_at_a_time()


def side_by_side(behavior: Behavior) -> bool:
    """Whether a behavior's cells on several targets may run at once (Session.run_cell_and_emit):
    not an app's (its servers are shared), not one that listens on a port the spec names
    (two targets would take the same port)."""
    return behavior.scenario.get("kind") != "app" and not listens_on_fixed_port(behavior.scenario)


def _in_thread(work: Callable[[], CellResult]) -> concurrent.futures.Future[CellResult]:
    """work() on a daemon thread of its own (an interrupted run must not wait for it)."""
    future: concurrent.futures.Future[CellResult] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the result
            future.set_exception(exc)

    threading.Thread(target=run, name="harness-cell", daemon=True).start()
    return future


def derive_seed(session_seed: int, behavior_id: str) -> int:
    digest = hashlib.sha256(f"{session_seed}:{behavior_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Session:
    def __init__(self, targets: list[str], *, session_seed: int, base_settings: settings | None = None,
                 fault: str | None = None, report_dir: Path | None = None, oracle: str | None = None,
                 log: Callable[[str], None] | None = None, events: Dispatcher | None = None,
                 causes: Mapping[str, Cause] | None = None, reruns: int = DEFAULT_RERUNS,
                 scenario_timeout: float = SCENARIO_TIMEOUT_S, shard: str | None = None) -> None:
        self.target_names = targets
        self.shard = shard  # "K/N" when this run holds one shard of the cells (harness/shard.py)
        self.session_seed = session_seed
        self.base_settings = base_settings or settings()
        self.fault = fault
        self.report_dir = report_dir
        self.oracle = oracle
        self.causes = dict(causes or {})  # specs/causes.yaml
        self.reruns = reruns
        self.scenario_timeout = scenario_timeout  # harness/watchdog.py
        self.log = log or (lambda _msg: None)
        self.events = events or Dispatcher()
        self.records: list[Record] = []  # of the cells run through run_cell_and_emit
        self._targets: dict[str, Target] = {}
        self._unavailable: dict[str, str] = {}
        self._wire: Wire | None = None
        self._apps: AppRunner | None = None
        self.started = time.time()
        self.target_wall: dict[str, float] = {}
        self._versions: dict[str, str] = {}  # asked once: some targets spawn a process to answer
        self._drawn = DrawnInputs()
        self._ahead: dict[tuple[str, str], concurrent.futures.Future[CellResult]] = {}  # started early

    # -- resources -------------------------------------------------------------------
    @property
    def wire(self) -> Wire:
        if self._wire is None:
            from harness.wire import Wire

            self._wire = Wire()
        return self._wire

    @property
    def apps(self) -> AppRunner:
        """The app servers of this run (harness/apps/), started on first use."""
        if self._apps is None:
            from harness.apps.run import AppRunner

            self._apps = AppRunner(self.wire, self.log)
        return self._apps

    def apps_info(self) -> dict[str, Any] | None:
        """How each app ran on each target, for the results document (None: no app ran)."""
        return self._apps.info() if self._apps is not None else None

    def target(self, name: str) -> Target:
        """The started target, or TargetUnavailable (remembered: one message per session)."""
        if name in self._unavailable:
            raise TargetUnavailable(self._unavailable[name])
        if name not in self._targets:
            target = registry.create(name, fault=self.fault) if registry.injects_faults(name) else registry.create(name)
            try:
                target.start()
            except TargetUnavailable as exc:
                self._unavailable[name] = str(exc)
                self.log(f"target {name}: {exc}")
                raise
            self._targets[name] = target
        return self._targets[name]

    def profile(self, name: str) -> str | None:
        t = self._targets.get(name)
        return t.profile if t is not None else None

    def versions(self) -> dict[str, Json]:
        out: dict[str, Json] = {}
        for name in self.target_names:
            t = self._targets.get(name)
            info: Json = {"started": t is not None, "wall_s": round(self.target_wall.get(name, 0.0), 3)}
            if t is not None:
                if name not in self._versions:
                    self._versions[name] = t.version()
                info.update(version=self._versions[name], profile=t.profile)
                parameters = getattr(t, "parameters", None)  # workerd: compatibility date and flags
                if parameters is not None:
                    info.update(parameters())
                # runtime processes (impl: event loops) started, restarts included
                started = getattr(t, "starts", getattr(t, "processes_started", None))
                if started is not None:
                    info["processes_started"] = started
            else:
                info["unavailable"] = self._unavailable.get(name, "not run")
            out[name] = info
        return out

    def close(self) -> None:
        for t in self._targets.values():
            try:
                t.stop()
            except Exception as exc:  # stopping must never hide the results
                self.log(f"stopping {t.name}: {exc}")
        if self._apps is not None:
            self._apps.close()
        if self._wire is not None:
            self._wire.close()

    # -- one scenario ------------------------------------------------------------------
    def run_scenario(self, target: Target, scenario: Json) -> Observations:
        return self.begin_scenario(target, scenario).observations()

    def begin_scenario(self, target: Target, scenario: Json) -> Running:
        """The scenario begun on the target: at once ended, unless the target can begin one
        and return before it has run (`begin`: the stdio runtimes, workerd)."""
        if scenario["kind"] == "app":  # a real application, served by the app servers
            obs = self.apps.run(target.name, scenario)
            return Running(lambda: obs)
        missing = ({scenario["kind"]} | set(scenario.get("requires", []))) - set(target.capabilities)
        if missing:
            return Running(lambda: not_run(scenario["kind"], "skipped",
                                           f"{target.name} has no {', '.join(sorted(missing))}"))
        timeout_s = scenario.get("timeout_ms", timing("default_timeout_ms")) / 1000
        if scenario["kind"] == "client":
            # The loop the target runs the scenario on serves its origin too (targets/runtime/serving.py).
            hosted = getattr(target, "origin_loop", None)
            origin = self.wire.origin(scenario["origin"]["responses"], hosted() if hosted else None)
            try:
                return Running(self._begun(target, bind_origin(scenario, origin.port), None), origin)
            except BaseException:
                origin.finish()
                raise

        def exchange(addresses: list[tuple[str, int]]) -> WireRecord:
            return self.wire.exchange(scenario["requests"], addresses, timeout_s)

        end = self._begun(target, scenario, exchange)

        def server() -> Observations:
            obs = end()
            return no_free_port(scenario, obs) or obs
        return Running(server)

    def _begun(self, target: Target, scenario: Json, exchange: Exchange | None) -> Callable[[], Observations]:
        """The call that ends the scenario on the target, begun now if the target can."""
        begin = getattr(target, "begin", None)
        if begin is None:
            return lambda: self._guarded(target, scenario, lambda: target.run(scenario, exchange))
        begun: list[Callable[[], Observations]] = []

        def start() -> Observations:
            begun.append(begin(scenario, exchange))
            return {"status": "ok"}
        failed = self._guarded(target, scenario, start)
        if not begun:
            return lambda: failed
        return lambda: self._guarded(target, scenario, begun[0])

    def _guarded(self, target: Target, scenario: Json, work: Callable[[], Observations]) -> Observations:
        obs: Observations
        try:
            obs = within(self.scenario_timeout, work, getattr(target, "abandon", None),
                         f"{target.name} scenario {scenario.get('id')}")
        except ScenarioTimeout as exc:
            obs = {"status": "timeout", "detail": str(exc)}
        except TargetCrashed as exc:
            obs = {"status": "crash", "detail": str(exc)}
        except TargetUnavailable as exc:
            obs = {"status": "error", "detail": str(exc)}
        except Exception as exc:  # a harness bug: ERROR, with the stack for whoever debugs it
            obs = {"status": "error", "detail": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"}
        if obs.get("status", "ok") == "ok":
            return obs
        return {**not_run(scenario["kind"], obs["status"], str(obs.get("detail") or "")), **obs}

    def run_example(self, behavior: Behavior, target: Target, inputs: Mapping[str, Any], label: str,
                    n: int, *, oracle: bool = True) -> Example:
        scenario = build(behavior, inputs, f"{behavior.id}/{n}")
        return self._judged(behavior, target, inputs, label, scenario, self.run_scenario(target, scenario), oracle)

    def run_examples(self, behavior: Behavior, target: Target, inputs: Sequence[Mapping[str, Any]], label: str,
                     first: int) -> Generator[Example, None, None]:
        """run_example over a list of inputs (numbered from `first`), pipelined on a target
        that can begin a scenario: once example i's scenario is done on the target, i+1's is
        begun before i is judged (its origin's recording, verdict), so the runtime runs one
        while the harness judges the other (11-18 % less per example, README "Profiles and
        speed"). A consumer that stops early (a finding) leaves a scenario begun ahead: it is
        ended and dropped unjudged. Not with an oracle, whose runs would hold up the one begun."""
        ahead = hasattr(target, "begin") and not (self.oracle and self.oracle != target.name)
        begun: tuple[Json, Running] | None = None
        try:
            for i, given in enumerate(inputs):
                scenario, running = begun or self._begin_example(behavior, target, given, first + i)
                begun = None
                if ahead and i + 1 < len(inputs) and running.wait().get("status", "ok") == "ok":
                    begun = self._begin_example(behavior, target, inputs[i + 1], first + i + 1)
                yield self._judged(behavior, target, given, label, scenario, running.observations())
        finally:
            if begun is not None:
                begun[1].observations()

    def _begin_example(self, behavior: Behavior, target: Target, inputs: Mapping[str, Any],
                       n: int) -> tuple[Json, Running]:
        scenario = build(behavior, inputs, f"{behavior.id}/{n}")
        return scenario, self.begin_scenario(target, scenario)

    def _judged(self, behavior: Behavior, target: Target, inputs: Mapping[str, Any], label: str, scenario: Json,
                obs: Observations, oracle: bool = True) -> Example:
        example = Example(label, inputs, scenario, obs, verdict(behavior, target.profile, inputs, obs, self.causes))
        if oracle and self.oracle and self.oracle != target.name:
            example.differences = self._differences(example)
        return example

    # -- one cell ----------------------------------------------------------------------
    def run_cell(self, behavior: Behavior, target_name: str) -> CellResult:
        began = time.monotonic()
        cell_seed = derive_seed(self.session_seed, behavior.id)
        try:
            target = self.target(target_name)
        except TargetUnavailable as exc:
            return CellResult(behavior, target_name, "ERROR", str(exc), cell_seed)
        except Exception as exc:
            return CellResult(behavior, target_name, "ERROR", f"cannot start {target_name}: {exc}", cell_seed)
        try:
            cell = self._run_examples(behavior, target, cell_seed)
            if cell.example is not None and STATUS[cell.status].rerun:
                self._rerun(cell, target)
        finally:
            elapsed = time.monotonic() - began
            self.target_wall[target_name] = self.target_wall.get(target_name, 0.0) + elapsed
        cell.wall_s = elapsed
        if STATUS[cell.status].detailed and self.report_dir is not None:
            cell.repro_file = self._write_repro(cell)
        return cell

    def _rerun(self, cell: CellResult, target: Target) -> None:
        """Run a finding's example again; one that does not fail every time makes the cell FLAKY."""
        assert cell.example is not None
        ex = cell.example
        for i in range(self.reruns):
            again = self.run_example(cell.behavior, target, ex.inputs, f"rerun of {ex.label}",
                                     cell.examples_run + i, oracle=False)
            cell.reruns.append(again.verdict.status)
        if all(STATUS[s].rerun for s in cell.reruns):
            return
        runs = [cell.status, *cell.reruns]
        failed = sum(1 for s in runs if STATUS[s].rerun)
        cell.message = f"failed {failed} of {len(runs)} runs ({', '.join(runs)}): {cell.message}"
        cell.status = "FLAKY"

    def _run_examples(self, behavior: Behavior, target: Target, cell_seed: int) -> CellResult:
        examples: list[Example] = []
        stop: list[Example] = []  # the first TIMEOUT/CRASH/ERROR: no more runs after it

        for case in behavior.cases:
            ex = self.run_example(behavior, target, case.given, f"case:{case.name}", len(examples))
            examples.append(ex)
            if STATUS[ex.verdict.status].failing:
                return self._fold(behavior, target.name, cell_seed, examples, ex)

        found: list[Example] = []
        key = (behavior.id, cell_seed, behavior.examples(self.base_settings.max_examples))
        drawn, complete = self._drawn.get(key)
        if not complete:
            ahead = self._draw(behavior, cell_seed)
            if ahead is not None:
                self._drawn.put(key, ahead, complete=True)
                drawn, complete = ahead, True
        # Inputs drawn for this behavior and seed, by another target's cell or by _draw: the
        # same Hypothesis would draw (it draws alike until a test fails), run without it. A
        # complete list that passes is the cell; otherwise Hypothesis runs, and its calls up to
        # here take the examples just run.
        replayed: list[Example] = []
        run = self.run_examples(behavior, target, drawn, "generated", len(examples))
        try:
            for ex in run:
                examples.append(ex)
                replayed.append(ex)
                if STATUS[ex.verdict.status].failing:
                    break
            else:
                if complete:
                    return self._fold(behavior, target.name, cell_seed, examples, None)
        finally:
            run.close()  # ends the scenario begun ahead of a finding
        calls: list[Mapping[str, Any]] = []  # prop's inputs until the first finding: what Hypothesis drew

        def prop(inputs: dict[str, Any]) -> None:
            # After a slow failure (TIMEOUT, CRASH, ERROR) nothing runs again: shrinking it
            # would cost a timeout per step. One raise site, so Hypothesis sees one failure.
            n = len(calls)
            if not found:
                calls.append(inputs)
            if stop:
                ex = stop[0]
            elif not found and n < len(replayed) and replayed[n].inputs == inputs:
                ex = replayed[n]  # run above, already among the examples
            else:
                ex = self.run_example(behavior, target, inputs, "generated", len(examples))
                examples.append(ex)
            if not stop:
                status = STATUS[ex.verdict.status]
                if status.failing and not status.shrinks:
                    stop.append(ex)
            if STATUS[ex.verdict.status].failing:
                found.append(ex)
                raise _Finding(ex)

        try:
            self._hypothesis(behavior, cell_seed, prop)()
            self._drawn.put(key, calls, complete=True)
        except _Finding as finding:
            self._drawn.put(key, calls, complete=False)
            # Hypothesis re-raises for the shrunk example last; a slow failure keeps its first example.
            chosen = stop[0] if stop else finding.example
            return self._fold(behavior, target.name, cell_seed, examples, chosen)
        except Flaky as exc:
            # The target failed once but not on Hypothesis' replay (timing, state): the
            # example that failed goes to the reruns like any other finding.
            if not found:
                return CellResult(behavior, target.name, "ERROR", f"hypothesis: {exc}", cell_seed,
                                  examples_run=len(examples))
            first = found[0]
            first.verdict = Verdict(first.verdict.status, f"{first.verdict.message} (did not reproduce on replay)",
                                    first.verdict.failures)
            return self._fold(behavior, target.name, cell_seed, examples, first)
        except HypothesisException as exc:
            return CellResult(behavior, target.name, "ERROR", f"hypothesis: {exc}", cell_seed,
                              examples_run=len(examples))
        return self._fold(behavior, target.name, cell_seed, examples, None)

    def _hypothesis(self, behavior: Behavior, cell_seed: int,
                    test: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """`test` under Hypothesis as a behavior's cell runs it, the same for _draw and the
        cell's own run (same settings, seed and strategy: the same inputs)."""
        # Imported here: hypothesis-jsonschema is slow to import and `pytest tests` needn't pay.
        from harness.strategies import compile_given

        wrapped = settings(self.base_settings, max_examples=behavior.examples(self.base_settings.max_examples),
                           deadline=None, database=None, derandomize=False, print_blob=False,
                           suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])(
            seed(cell_seed)(given(compile_given(behavior.given))(test)))
        # database=None: no key is needed, and Hypothesis would otherwise derive one per cell
        # from the test's source (inspect + tokenize). It plays no part in what is drawn.
        wrapped._hypothesis_internal_database_key = None  # type: ignore[attr-defined]
        return cast(Callable[[], None], wrapped)

    def _draw(self, behavior: Behavior, cell_seed: int) -> list[Mapping[str, Any]] | None:
        """The whole list Hypothesis draws for the cell, drawn ahead by a test that does nothing:
        Hypothesis around a test that runs scenarios added ~2.9 ms to each example of a Node
        cell, drawing ahead ~1.8 ms (40 behaviors, 100 examples each). The list then replays
        like another target's; only a failure needs Hypothesis again (to shrink). A draw that
        raises (None) leaves that to the cell's own run, which reports it."""
        drawn: list[Mapping[str, Any]] = []

        def collect(inputs: dict[str, Any]) -> None:  # a function: Hypothesis reads its signature
            drawn.append(inputs)

        try:
            self._hypothesis(behavior, cell_seed, collect)()
        except Exception:  # noqa: BLE001 - the cell's own run meets it again and reports it
            return None
        return drawn

    @staticmethod
    def _fold(behavior: Behavior, target: str, cell_seed: int, examples: list[Example],
              failing: Example | None) -> CellResult:
        counts: dict[str, int] = {}
        for ex in examples:
            counts[ex.verdict.status] = counts.get(ex.verdict.status, 0) + 1
        status = failing.verdict.status if failing else worst([ex.verdict.status for ex in examples])
        shown = failing or next((ex for ex in examples if ex.verdict.status == status), None)
        message = shown.verdict.message if shown else "no examples ran"
        differences: list[str] = []
        for ex in examples:  # differential mode: the first examples that differ from the oracle
            if ex.differences and len(differences) < 3:
                differences.append(f"{ex.label} {json.dumps(to_json(ex.inputs), ensure_ascii=False)[:300]}: "
                                   + " | ".join(ex.differences))
        # A failing cell shows one example: its notes; a passing one, what any example noted.
        noted = [failing] if failing else examples
        notes = list({(n["text"], n["behavior"]): n for ex in noted for n in ex.verdict.notes}.values())
        return CellResult(behavior, target, status, message, cell_seed, examples_run=len(examples),
                          example=shown, statuses=counts, differences=differences, notes=notes[:MAX_NOTES])

    # -- events ------------------------------------------------------------------------
    def run_cell_and_emit(self, behavior: Behavior, target_name: str, then: Sequence[str] = ()) -> CellResult:
        """run_cell, recorded for the results document and handed to the handlers. `then`: the
        targets whose cells of this behavior the caller asks for next. Once this cell has drawn
        the inputs, they start side by side on threads of their own, replaying them (most of a
        scenario's time is waiting: the waits overlap), and those calls take their results."""
        from harness.report.results import record  # it imports this module

        ahead = self._ahead.pop((behavior.id, target_name), None)
        cell = ahead.result() if ahead is not None else self.run_cell(behavior, target_name)
        if then and side_by_side(behavior) and not self.oracle:
            if behavior.scenario.get("kind") in ("client", "server"):
                _ = self.wire  # started here, not by two threads at once
            for name in then:
                if (behavior.id, name) not in self._ahead:
                    self._ahead[(behavior.id, name)] = _in_thread(functools.partial(self.run_cell, behavior, name))
        rec = record(cell, self, self.profile(target_name))
        self.records.append(rec)
        self.events.emit(CellFinished(cell, rec))
        return cell

    def finish(self, hypothesis_profile: str, complete: bool = True) -> Document:
        """Stop the targets, then hand the results document to the handlers
        (complete=False: the run was interrupted, some cells never ran)."""
        from harness.report.results import document

        self.close()
        doc = document(self, self.records, hypothesis_profile, complete)
        self.events.emit(RunFinished(doc))
        return doc

    # -- differential mode -------------------------------------------------------------
    def _differences(self, example: Example) -> list[str]:
        """Run the same scenario on the oracle (Node) and list what differs."""
        from harness.oracle import compare

        try:
            oracle = self.target(self.oracle or "node")
        except TargetUnavailable as exc:
            return [f"oracle unavailable: {exc}"]
        baseline = self.run_scenario(oracle, example.scenario)
        return compare(baseline, example.observations)

    # -- reproduction ------------------------------------------------------------------
    def _write_repro(self, cell: CellResult) -> str:
        assert self.report_dir is not None
        path = self.report_dir / "repro" / cell.target / f"{cell.behavior.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        ex = cell.example
        record = {
            "schema": REPRO_SCHEMA, "behavior": cell.behavior.id, "spec": cell.behavior.location, "target": cell.target,
            "fault": self.fault if registry.injects_faults(cell.target) else None, "seed": cell.seed,
            "session_seed": self.session_seed, "status": cell.status, "message": cell.message,
            "causes": cell.causes, "failures": failures(cell), "reruns": cell.reruns,
            "inputs": to_json(ex.inputs) if ex else None, "label": ex.label if ex else None,
            "scenario": ex.scenario if ex else None, "observations": ex.observations if ex else None,
        }
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        try:  # a relative path keeps the printed command short and copyable
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)


def failures(cell: CellResult) -> list[Json]:
    """The failing `expect` entries of the cell's example: where, the YAML, what was observed, the cause."""
    ex = cell.example
    return [{"spec": f.written.location, "yaml": f.written.text, "message": f.message, "cause": f.cause}
            for f in (ex.verdict.failures if ex else [])]


def repro_commands(cell: CellResult, fault: str | None, session_seed: int) -> list[str]:
    """Commands that rerun a cell: the exact example, and the whole generated run."""
    cmds = []
    if cell.repro_file:
        cmds.append(f"python -m harness replay {shlex.quote(cell.repro_file)}")
    cmds.append(pytest_command(cell.target, [cell.behavior.id], fault, session_seed))
    return cmds


def pytest_command(target: str, behavior_ids: list[str], fault: str | None, session_seed: int | None) -> str:
    """The pytest command that runs these behaviors on a target with the same generated inputs."""
    fault_opt = f" --fault {fault}" if fault and registry.injects_faults(target) else ""
    seed = f" --hypothesis-seed={session_seed}" if session_seed is not None else ""
    return f"pytest {shlex.quote('--target=' + target)}{fault_opt} -k {shlex.quote(' or '.join(behavior_ids))}{seed}"
