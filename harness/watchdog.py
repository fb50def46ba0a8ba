"""The runner's last-resort limit on one scenario (`--scenario-timeout`).

Targets enforce a scenario's own `timeout_ms` themselves (a stdio runtime gets
timeout_ms + grace, then is killed); the watchdog catches what they do not: a target
whose `run` never returns. After the limit the cell is TIMEOUT, the target's process is
killed (`abandon()`, when it has one) so it restarts on next use, and the run goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

SCENARIO_TIMEOUT_S = 30.0  # above the longest timeout_ms in specs/ (8 s) plus the targets' own grace
SCENARIO_TIMEOUT_HELP = (f"the longest one scenario may run on a target, whatever it does; then the cell is "
                         f"TIMEOUT and the target restarts (default {SCENARIO_TIMEOUT_S:g} s)")


class ScenarioTimeout(Exception):
    pass


class _Job:
    """One call of within(): the work, and its value or error once `done` is released."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work = work
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()


class _Worker:
    """A daemon thread that runs jobs one at a time: one per scenario would cost a thread
    start each. A worker whose job overran the limit is retired (it exits once the job ends)."""

    def __init__(self) -> None:
        self._job: _Job | None = None
        self._wake = threading.Lock()
        self._wake.acquire()
        threading.Thread(target=self._loop, name="harness-scenario", daemon=True).start()

    def start(self, job: _Job | None) -> None:
        """Run job; None retires the worker."""
        self._job = job
        self._wake.release()

    def _loop(self) -> None:
        while True:
            self._wake.acquire()
            job = self._job
            if job is None:
                return
            try:
                job.value = job.work()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                job.error = exc
            job.done.release()


_idle: list[_Worker] = []  # workers waiting for a job; several callers may run at once
_idle_lock = threading.Lock()


def within(limit_s: float, work: Callable[[], Any], abandon: Callable[[], None] | None, what: str) -> Any:
    """work()'s value, or ScenarioTimeout after limit_s seconds (abandon() called first)."""
    with _idle_lock:
        worker = _idle.pop() if _idle else _Worker()
    job = _Job(work)
    worker.start(job)
    if not job.done.acquire(timeout=limit_s):
        worker.start(None)
        if abandon is not None:
            abandon()
        raise ScenarioTimeout(
            f"{what} did not finish within --scenario-timeout={limit_s:g} s; "
            + ("its process was killed and restarts on next use" if abandon is not None
               else "it was left running (this target has no process to kill)"))
    with _idle_lock:
        _idle.append(worker)
    if job.error is not None:
        raise job.error
    return job.value
