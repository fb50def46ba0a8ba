"""workerd at more than one compatibility date: target names, the newest date, two columns.

``workerd`` runs at the newest date the pinned binary supports, ``workerd@DATE[+flag...]``
at a named one (harness/targets/runtime/workerd_compat.py).
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from harness.report import gate as gating
from harness.runner import CellResult, Session, repro_commands
from harness.spec import load_all
from harness.targets import registry
from harness.targets.runtime import install, workerd_compat
from harness.targets.workerd import WorkerdTarget

ROOT = Path(__file__).resolve().parents[1]
OLD = "2025-09-15"

needs_workerd = pytest.mark.skipif(
    install.binary("workerd") is None,
    reason=f"workerd is not installed; install it with: {install.INSTALL_HINT} workerd",
)


def _binary() -> Path:
    binary = install.binary("workerd")
    assert binary is not None
    return binary


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "expected"), [
    (None, workerd_compat.Variant(None, ())),
    (OLD, workerd_compat.Variant(OLD, ())),
    (f"{OLD}+enable_nodejs_http_server_modules",
     workerd_compat.Variant(OLD, ("enable_nodejs_http_server_modules",))),
    (f"{OLD}+a_flag+b2", workerd_compat.Variant(OLD, ("a_flag", "b2"))),
    (f"{OLD}+nodejs_compat", workerd_compat.Variant(OLD, ())),  # always on anyway
])
def test_parse_date_and_flags(variant: str | None, expected: workerd_compat.Variant) -> None:
    assert workerd_compat.parse(variant) == expected


@pytest.mark.parametrize(("variant", "complaint"), [
    ("", "expected workerd@YYYY-MM-DD"),
    ("yesterday", "expected workerd@YYYY-MM-DD"),
    ("2025-9-15", "expected workerd@YYYY-MM-DD"),
    ("2025-02-30", "day is out of range"),
    ("1999-12-31", "years 2000-2999"),
    (f"{OLD}+", "bad compatibility flag ''"),
    (f"{OLD}+Upper", "bad compatibility flag 'Upper'"),
    (f"{OLD}+a/../b", "bad compatibility flag"),
    (f"{OLD}+x+x", "named twice"),
])
def test_parse_refuses_malformed_names(variant: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint.replace("+", r"\+")):
        workerd_compat.parse(variant)


def test_registry_knows_parameterised_names() -> None:
    entry = registry.info(f"workerd@{OLD}+x_y")
    assert (entry.name, entry.base, entry.variant, entry.kind, entry.from_npm) == \
        (f"workerd@{OLD}+x_y", "workerd", f"{OLD}+x_y", "runtime", True)
    assert registry.info("workerd").variant is None
    target = registry.create(f"workerd@{OLD}")
    assert isinstance(target, WorkerdTarget) and target.name == f"workerd@{OLD}"
    assert target.runtime == "workerd" and "targets install workerd" in target.install_hint()
    assert not registry.injects_faults(f"workerd@{OLD}")
    with pytest.raises(registry.BadTarget, match="takes no variant"):
        registry.info("node@24")


@pytest.mark.parametrize("name", ["nope", "node@24", "workerd@2025-13-01", "workerd@2025-09-15+Bad"])
def test_check_refuses_bad_names(name: str) -> None:
    with pytest.raises(registry.BadTarget):
        registry.check([name])


def test_baseline_and_repro_commands_carry_the_name() -> None:
    name = f"workerd@{OLD}+enable_nodejs_http_server_modules"
    assert gating.baseline_path(Path("b"), name) == Path("b") / f"{name}.json"
    behavior = next(b for b in load_all(ROOT / "specs", ROOT / "cases"))
    cell = CellResult(behavior, name, "FAIL", "m", 1, repro_file=f"reports/latest/repro/{name}/{behavior.id}.json")
    replay, rerun = repro_commands(cell, None, 7)
    assert shlex.split(replay)[-1] == cell.repro_file
    assert f"--target={name}" in shlex.split(rerun)


# -- the newest date --------------------------------------------------------------------------


@needs_workerd
def test_newest_date_is_what_the_binary_accepts_and_no_later() -> None:
    binary = _binary()
    newest = workerd_compat.newest_date(binary)
    release = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
    today = dt.datetime.now(dt.UTC).date()
    assert release <= newest <= today.isoformat()  # never older than the release it ships in
    assert workerd_compat.resolve(binary, workerd_compat.parse(newest)).date == newest
    later = (dt.date.fromisoformat(newest) + dt.timedelta(days=1)).isoformat()
    with pytest.raises(ValueError, match="workerd refuses"):
        workerd_compat.resolve(binary, workerd_compat.parse(later))


@needs_workerd
def test_newest_date_is_asked_once() -> None:
    binary = _binary()
    workerd_compat.newest_date(binary)
    before = workerd_compat._newest_date.cache_info()
    workerd_compat.newest_date(binary)
    after = workerd_compat._newest_date.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


def test_a_binary_that_names_no_date_is_a_clear_error(tmp_path: Path) -> None:
    silent = tmp_path / "workerd"
    silent.write_text("#!/bin/sh\nexit 1\n")
    silent.chmod(0o755)
    with pytest.raises(RuntimeError, match="cannot tell the newest compatibility date"):
        workerd_compat.newest_date(silent)


@needs_workerd
def test_flags_on_by_default_are_not_listed() -> None:
    """nodejs_compat is on at every date the harness runs; at dates where workerd makes it a
    default, the config leaves it out (listing it only warns)."""
    newest = workerd_compat.resolve(_binary(), workerd_compat.parse(None))
    old = workerd_compat.resolve(_binary(), workerd_compat.parse(OLD))
    assert newest.newest and not old.newest
    assert newest.flags == old.flags == old.listed == workerd_compat.BASE_FLAGS
    assert set(newest.listed) <= set(newest.flags)


@needs_workerd
@pytest.mark.parametrize(("variant", "complaint"), [
    (f"{OLD}+no_such_flag", "No such compatibility flag: no_such_flag"),
    (f"{OLD}+no_nodejs_compat", "mutually contradictory"),
    ("2999-01-01", "newest date supported"),
])
def test_the_binary_refuses_what_it_does_not_know(variant: str, complaint: str) -> None:
    with pytest.raises(registry.BadTarget, match=complaint):
        registry.check([f"workerd@{variant}"])


@pytest.mark.parametrize("command", [
    ["-m", "harness", "run", "--target", "workerd@2025-02-30", "-k", "nothing"],
    ["-m", "pytest", "specs", "--target=workerd@2025-09-15+Bad", "-q", "-p", "no:cacheprovider"],
])
def test_a_bad_name_exits_2_before_anything_runs(command: list[str], tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, *command, f"--report-dir={tmp_path}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 2, run.stdout + run.stderr
    assert "bad compatibility" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "results.json").exists()


# -- two dates in one session -----------------------------------------------------------------


@needs_workerd
def test_one_behavior_at_two_dates_in_one_session() -> None:
    behavior = next(b for b in load_all(ROOT / "specs", ROOT / "cases")
                    if b.id == "client.headers.case-preserved-on-wire")
    names = ["workerd", f"workerd@{OLD}"]
    session = Session(names, session_seed=1, base_settings=settings(max_examples=2, deadline=None))
    try:
        cells = [session.run_cell(behavior, name) for name in names]
        pids = {name: session.target(name)._proc.pid for name in names}  # type: ignore[attr-defined]
        info = session.versions()
    finally:
        session.close()
    assert [c.target for c in cells] == names
    assert all(c.status == "PASS" for c in cells), [(c.target, c.status, c.message) for c in cells]
    assert len(set(pids.values())) == 2  # one workerd process per column
    newest = workerd_compat.newest_date(_binary())
    assert (info["workerd"]["compatibility_date"], info["workerd"]["compatibility_date_is_newest"]) == (newest, True)
    assert (info[f"workerd@{OLD}"]["compatibility_date"], info[f"workerd@{OLD}"]["compatibility_flags"]) == \
        (OLD, ["nodejs_compat"])
    assert f"compat {OLD} nodejs_compat" in info[f"workerd@{OLD}"]["version"]
