"""harness/watchdog.py: a value, an error, a hang that becomes ScenarioTimeout, and runs after it."""

from __future__ import annotations

import threading

import pytest

from harness.watchdog import ScenarioTimeout, within


def test_value_and_error_reach_the_caller() -> None:
    assert within(5, lambda: 42, None, "t") == 42
    with pytest.raises(KeyError):
        within(5, lambda: {}["missing"], None, "t")


def test_a_hang_times_out_and_later_work_still_runs() -> None:
    release = threading.Event()
    abandoned: list[bool] = []
    with pytest.raises(ScenarioTimeout, match="did not finish within"):
        within(0.2, release.wait, lambda: abandoned.append(True), "hung")
    assert abandoned == [True]
    assert [within(5, lambda i=i: i, None, "t") for i in range(3)] == [0, 1, 2]  # another worker
    release.set()  # the retired worker ends with its job


def test_callers_in_several_threads_each_get_their_own_value() -> None:
    results: dict[int, int] = {}

    def call(i: int) -> None:
        results[i] = within(5, lambda: i * i, None, "t")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i * i for i in range(8)}
