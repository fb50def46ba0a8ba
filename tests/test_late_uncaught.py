"""An error a scenario's data made (a listener's throw, destroy(err), a callback option's
throw) that the runtime raises after that scenario ended belongs to no running
scenario: Deno raised server.life.handler-exception-uncaught's throw during the next
scenario, whose `errors length 0` then failed (events.timeout.no-destroy came out FLAKY).
Other uncaught errors still go to every running scenario.
Both executors: executor.mjs (under Node) and the impl's recorder."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from harness.reference.errors import NodeError
from harness.targets.impl.recorder import Recorder, record_uncaught
from harness.targets.impl.tags import owned
from harness.targets.runtime.install import binary

ROOT = Path(__file__).resolve().parents[1]


def test_executor_mjs_keeps_a_finished_scenario_error_out_of_the_next() -> None:
    node = binary("node")
    if node is None:
        pytest.skip("node is not installed: python -m harness targets install node")
    out = subprocess.run([str(node), str(ROOT / "tests" / "drivers" / "late_uncaught.mjs")],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert json.loads(out) == {"first": ["the first one"], "second": ["nobody made this one"],
                               "statuses": ["ok", "ok"]}


def test_the_impl_recorder_keeps_a_finished_scenario_error_out_of_the_next() -> None:
    async def main() -> tuple[int, int, list[str], list[str]]:
        loop = asyncio.get_running_loop()
        first = Recorder(1000)
        mine = owned(NodeError("the first one"), first)
        at_first = record_uncaught("uncaughtException", mine, loop)
        first.close()
        second = Recorder(1000)
        late = record_uncaught("uncaughtException", mine, loop)
        record_uncaught("uncaughtException", NodeError("nobody made this one"), loop)
        second.close()
        return (at_first, late, [u["error"]["message"] for u in first.uncaught],
                [u["error"]["message"] for u in second.uncaught])

    assert asyncio.run(main()) == (1, 0, ["the first one"], ["nobody made this one"])
