"""pytest-xdist: the workers run cells, the controller writes one run's reports.

The controller draws the run's seed once and hands it to every worker (`workerinput`), so
a worker generates the inputs a serial run would (a cell's seed comes from the session
seed and the behavior, never from the worker). Each worker starts the targets its items
need, and at its end sends its results document through `workeroutput`; the controller
merges them (harness/report/merge.py) into the document the handlers get: results.json,
every format, the summary and the gate, once.

The hooks below are xdist's (optional: without xdist they are never called).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness import durations
from harness.durations import Durations
from harness.events import Document
from harness.report.merge import MergeError, merge
from harness.report.results import document
from harness.runner import Session

# Under --dist loadgroup a behavior's cells, every target's, are one xdist group: a worker runs
# them one after another, so they replay the inputs the first drew (runner.DrawnInputs), and it
# starts a target once. harness/lanes.py deals the groups out by their measured durations;
# `--xdist-groups N` folds the behaviors into N hashed groups instead.
FIXED_PORTS_GROUP = "fixed-ports"
SEED_KEY = "node_http_session_seed"
RESULTS_KEY = "node_http_results"
GATHERED = pytest.StashKey[list[tuple[str, Document]]]()


def configure(config: pytest.Config) -> None:
    """Register the controller's hooks; BadInput for an unusable --cell-durations file."""
    config.addinivalue_line("markers", "xdist_group(name): run on the xdist worker of this group "
                                       "(the harness puts each behavior's cells in one group)")
    if not is_worker(config):  # xdist calls these on its controller only
        config.pluginmanager.register(_ControllerHooks(config, _durations(config)), "node-http-xdist-controller")
        if plain_asserts_for_workers(config.option):
            # Workers read PYTEST_ADDOPTS before pytest installs its import hook, and inherit this
            # environment when xdist spawns them at session start, after every pytest_configure.
            os.environ["PYTEST_ADDOPTS"] = f"{os.environ.get('PYTEST_ADDOPTS', '')} --assert=plain".strip()


def _durations(config: pytest.Config) -> Durations | None:
    """The measured cell durations the scheduler deals by: only for a suite run under loadgroup."""
    option = config.getoption("cell_durations")
    if option == "none" or getattr(config.option, "dist", "no") != "loadgroup" or not config.getoption("target"):
        return None
    return durations.load(Path(config.rootpath) / option)


def plain_asserts_for_workers(option: Any) -> bool:
    """Whether this run's xdist workers skip pytest's assertion rewriting: in a suite run (a
    --target given) they run cells, which hold no assert statement to rewrite, while pytest
    rewrites every module of a plugin's distribution (Hypothesis, anyio, the harness) on import,
    uncached under PYTHONDONTWRITEBYTECODE: ~1 s CPU per worker, 124 -> 113 s on a five-target
    ci run. `pytest tests -n 3` names no target and keeps rewriting."""
    return (getattr(option, "dist", "no") != "no" and bool(getattr(option, "numprocesses", None))
            and bool(getattr(option, "target", None)) and getattr(option, "assertmode", "") == "rewrite")


def group(behavior_id: str, feature: str, groups: int | None, fixed_port: bool = False) -> str:
    """The xdist group of a behavior's cells, every target's: the behavior's own, or with
    `groups`, one of that many by a stable hash (not `hash()`: every worker must agree). An
    app's behaviors share a group, so its servers start once per target. Behaviors that listen
    on a fixed port share one group: a seed draws the same port for every target, and two
    workers listening on it at once fail each other."""
    if fixed_port:
        return FIXED_PORTS_GROUP
    key = feature if feature.startswith("apps.") else behavior_id
    if groups is None:
        return key  # xdist reads the group after the last '@' of the node id
    k = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % max(1, groups)
    return f"g{k}"


def mixed(items: list[Any]) -> list[Any]:
    """The items with the behaviors in a stable hashed order, each behavior's cells kept
    together in their order (with --side-by-side): in spec-file order every worker reached the
    files that wait most (server timeouts, client lifecycles) at once, and the cores idled
    (11-40 % busy for seconds at a time in an -n 8 run). One cell at a time, the hashed order
    was slower (130 s against 110 s): a wait-heavy group came last. Every worker computes the
    same order, as xdist needs; the merged results are in spec order whatever ran first. Other items (tests/) go first, as
    they were: their module fixtures must not be set up again and again."""
    cells = [item for item in items if hasattr(item, "behavior")]
    others = [item for item in items if not hasattr(item, "behavior")]
    return others + sorted(cells, key=lambda item: hashlib.sha256(item.behavior.id.encode()).digest()[:8])


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")  # xdist's, registered on -n N (N > 0)


def handed_seed(config: pytest.Config) -> int | None:
    """The controller's seed, on a worker."""
    seed = getattr(config, "workerinput", {}).get(SEED_KEY)
    return int(seed) if seed is not None else None


def send(config: pytest.Config, session: Session, hypothesis_profile: str) -> None:
    """On a worker: stop its targets and hand its results to the controller."""
    session.close()
    doc = document(session, session.records, hypothesis_profile)
    config.workeroutput[RESULTS_KEY] = json.dumps(doc, default=str)  # type: ignore[attr-defined]


def gathered(config: pytest.Config) -> Document | None:
    """On the controller: the run's results document, merged from its workers' (None: no cell ran)."""
    parts = config.stash.get(GATHERED, [])
    if not parts:
        return None
    try:
        return merge(sorted(parts, key=lambda part: part[0]))  # gw0, gw1, ...: the same on every run
    except MergeError as exc:  # the workers of one run always agree: a harness bug
        raise pytest.UsageError(f"cannot merge the xdist workers' results: {exc}") from None


class _ControllerHooks:
    def __init__(self, config: pytest.Config, cell_durations: Durations | None) -> None:
        self.config = config
        self.durations = cell_durations
        self.scheduler: Any = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if self.durations is None:
            return None  # xdist's own LoadGroupScheduling
        from harness.lanes import Lanes  # imports xdist: only here, where xdist runs

        self.scheduler = Lanes(config, log, self.durations)
        return self.scheduler

    @pytest.hookimpl(trylast=True)  # after the compatibility section
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.scheduler is not None and self.scheduler.unmeasured:
            from harness.lanes import unmeasured_line

            terminalreporter.write_line(unmeasured_line(self.scheduler.unmeasured,
                                                        self.config.getoption("cell_durations")))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        from harness.pytest_plugin import session_seed

        node.workerinput[SEED_KEY] = session_seed(self.config)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        if RESULTS_KEY in output:
            worker = str(getattr(node, "gateway", None) and node.gateway.id or "worker")
            self.config.stash.setdefault(GATHERED, []).append((worker, json.loads(output[RESULTS_KEY])))
