"""The runner's last-resort limit on one scenario (`--scenario-timeout`).

Targets enforce a scenario's own `timeout_ms` themselves (a stdio runtime gets
timeout_ms + grace, then is killed); the watchdog catches what they do not: a target
whose `run` never returns. After the limit the cell is TIMEOUT, the target's process is
killed (`abandon()`, when it has one) so it restarts on next use, and the run goes on.

A target with `abandon()` runs the work on the caller's thread, and a monitor thread calls it once
the limit passes: it kills the process the work waits on (impl: forgets its event loop, every
wait of its scenarios being bounded), which ends the work. Two thread hand-offs fewer per example
than a worker thread (the bench showed them). Work without one runs on a worker thread that is
left behind if it hangs.
"""

from __future__ import annotations

import itertools
import threading
import time
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


class _Monitor:
    """Kills the process of a caller-thread job that overran its limit. It looks a few times a
    second instead of being woken per job: registering a job must not cost a hand-off."""

    PERIOD_S = 0.2

    def __init__(self) -> None:
        self._jobs: dict[int, tuple[float, Callable[[], None]]] = {}  # id -> (deadline, abandon)
        self._expired: set[int] = set()
        self._ids = itertools.count()
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, name="harness-watchdog", daemon=True).start()

    def watch(self, limit_s: float, abandon: Callable[[], None]) -> int:
        job = next(self._ids)
        with self._lock:
            self._jobs[job] = (time.monotonic() + limit_s, abandon)
        return job

    def release(self, job: int) -> bool:
        """Stop watching job; whether it had overrun (and its process was killed)."""
        with self._lock:
            self._jobs.pop(job, None)
            if job in self._expired:
                self._expired.discard(job)
                return True
            return False

    def _loop(self) -> None:
        while True:
            time.sleep(self.PERIOD_S)
            now = time.monotonic()
            with self._lock:
                late = [(job, abandon) for job, (deadline, abandon) in self._jobs.items() if deadline <= now]
                for job, _ in late:
                    del self._jobs[job]
                    self._expired.add(job)
            for _, abandon in late:
                abandon()


_monitor: _Monitor | None = None
_monitor_lock = threading.Lock()


def _timeout(limit_s: float, what: str, killed: bool) -> ScenarioTimeout:
    return ScenarioTimeout(
        f"{what} did not finish within --scenario-timeout={limit_s:g} s; "
        + ("its process was killed and restarts on next use" if killed
           else "it was left running (this target has no process to kill)"))


def within(limit_s: float, work: Callable[[], Any], abandon: Callable[[], None] | None, what: str) -> Any:
    """work()'s value, or ScenarioTimeout after limit_s seconds (abandon() called first).
    abandon() must end work()'s wait: it kills the process work() talks to."""
    if abandon is not None:
        return _on_caller_thread(limit_s, work, abandon, what)
    return _on_worker_thread(limit_s, work, what)


def _on_caller_thread(limit_s: float, work: Callable[[], Any], abandon: Callable[[], None], what: str) -> Any:
    global _monitor
    with _monitor_lock:
        if _monitor is None:
            _monitor = _Monitor()
    watched = _monitor.watch(limit_s, abandon)
    try:
        value = work()
    except BaseException:
        if _monitor.release(watched):
            raise _timeout(limit_s, what, True) from None
        raise
    if _monitor.release(watched):
        raise _timeout(limit_s, what, True)
    return value


def _on_worker_thread(limit_s: float, work: Callable[[], Any], what: str) -> Any:
    with _idle_lock:
        worker = _idle.pop() if _idle else _Worker()
    job = _Job(work)
    worker.start(job)
    if not job.done.acquire(timeout=limit_s):
        worker.start(None)
        raise _timeout(limit_s, what, False)
    with _idle_lock:
        _idle.append(worker)
    if job.error is not None:
        raise job.error
    return job.value
