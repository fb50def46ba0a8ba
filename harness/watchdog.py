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


def within(limit_s: float, work: Callable[[], Any], abandon: Callable[[], None] | None, what: str) -> Any:
    """work()'s value, or ScenarioTimeout after limit_s seconds (abandon() called first)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name=f"scenario {what}", daemon=True)
    thread.start()
    thread.join(limit_s)
    if thread.is_alive():
        if abandon is not None:
            abandon()
        raise ScenarioTimeout(
            f"{what} did not finish within --scenario-timeout={limit_s:g} s; "
            + ("its process was killed and restarts on next use" if abandon is not None
               else "it was left running (this target has no process to kill)"))
    if "error" in box:
        raise box["error"]
    return box["value"]
