"""harness/watchdog.py: a value, an error, a hang that becomes ScenarioTimeout, and runs after it,
on both paths: the caller's thread with a monitor that abandons (a target with a process), and a
worker thread (a target without one)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from harness.watchdog import ScenarioTimeout, within


@pytest.mark.parametrize("abandon", [None, lambda: None], ids=["worker-thread", "caller-thread"])
def test_value_and_error_reach_the_caller(abandon: Any) -> None:
    assert within(5, lambda: 42, abandon, "t") == 42
    with pytest.raises(KeyError):
        within(5, lambda: {}["missing"], abandon, "t")


def test_a_hang_on_a_worker_thread_times_out_and_later_work_still_runs() -> None:
    release = threading.Event()
    with pytest.raises(ScenarioTimeout, match="did not finish within.*left running"):
        within(0.2, release.wait, None, "hung")
    assert [within(5, lambda i=i: i, None, "t") for i in range(3)] == [0, 1, 2]  # another worker
    release.set()  # the retired worker ends with its job


def test_a_hang_on_the_caller_thread_is_abandoned_and_times_out() -> None:
    """abandon() kills the process the work waits on: here it ends the wait, which then fails
    as a dead process's read would; the caller gets ScenarioTimeout, not that error."""
    release = threading.Event()

    def wait_for_the_process() -> None:
        release.wait()
        raise BrokenPipeError("the process was killed")

    started = time.monotonic()
    with pytest.raises(ScenarioTimeout, match="did not finish within.*was killed"):
        within(0.3, wait_for_the_process, release.set, "hung")
    assert 0.3 <= time.monotonic() - started < 2
    assert within(5, lambda: "next", lambda: None, "t") == "next"


def test_work_that_ends_in_time_is_not_abandoned() -> None:
    abandoned: list[bool] = []
    assert within(0.3, lambda: time.sleep(0.05) or 1, lambda: abandoned.append(True), "t") == 1
    time.sleep(0.6)  # past the limit: the monitor no longer watches the job
    assert abandoned == []


def test_callers_in_several_threads_each_get_their_own_value() -> None:
    results: dict[int, int] = {}

    def call(i: int) -> None:
        results[i] = within(5, lambda: i * i, None if i % 2 else (lambda: None), "t")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i * i for i in range(8)}
