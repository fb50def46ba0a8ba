"""One scenario begun on its target and not yet ended (runner.Session.begin_scenario).

Two halves, so that the runner can overlap them across examples (Session.run_examples):
wait() blocks until the target is done with the scenario (its observations, without the
origin's recording); observations() then adds the recording of the scenario's origin (a
client scenario) and closes it. Between a scenario's wait() and observations() the runner
begins the next example's scenario, so the runtime runs it while the harness judges this one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.observations import Observations

if TYPE_CHECKING:
    from harness.wire.origin import OriginHandle


class Running:
    def __init__(self, end: Callable[[], Observations], origin: OriginHandle | None = None) -> None:
        self._end = end  # waits for the target; never raises but for BaseException (the runner's guard)
        self._origin = origin
        self._obs: Observations | None = None

    def wait(self) -> Observations:
        """The target's observations, once it is done with the scenario (waited for once)."""
        if self._obs is None:
            try:
                self._obs = self._end()
            except BaseException:
                if self._origin is not None:
                    self._origin.finish()
                raise
        return self._obs

    def observations(self) -> Observations:
        """wait()'s observations with the origin's recording ("wire", "ctx"); the origin closed."""
        obs = self.wait()
        if self._origin is not None:
            origin, self._origin = self._origin, None
            obs["wire"] = origin.finish()
            obs["ctx"] = {"origin_host": "127.0.0.1", "origin_port": origin.port}
        return obs
