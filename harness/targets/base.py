"""The Target protocol: what every target module implements.

Targets know scenarios and observations (see harness/SCENARIO.md), nothing of YAML,
specs or verdicts. A target is started once per session and runs many scenarios.
Optional, found by the runner with getattr: `abandon()` (kill the process a run waits on:
harness/watchdog.py) and `begin(scenario, exchange)`, which sends the scenario and returns
a call that waits for the rest and returns the observations, so that the runner judges one
example while the target runs the next (runner.Session.run_examples).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from harness.observations import Json, Observations, WireRecord

Profile = Literal["node", "fetch-backed"]

# For server scenarios: the target calls exchange(addresses) once its servers listen.
# addresses[i] is the (host, port) the raw client must connect to for servers[i].
# It returns the raw client's record: {"responses": [...]} (see SCENARIO.md).
Exchange = Callable[[list[tuple[str, int]]], WireRecord]


class TargetUnavailable(Exception):
    """The target cannot start (not installed, failed to boot). The message says how to fix it."""


class TargetCrashed(Exception):
    """The target's process died while running a scenario; the target restarts on next use."""


class Target(Protocol):
    name: str
    profile: Profile
    # "client", "server", "bridge" (cloudflare:node style port-table bridge)
    capabilities: frozenset[str]

    def version(self) -> str:
        """The target's version string (e.g. the runtime's own --version)."""
        ...

    def installed(self) -> bool:
        """Whether the target can start without installing anything."""
        ...

    def install_hint(self) -> str:
        """One line telling how to install the target."""
        ...

    def start(self) -> None:
        """Start once per session. Raises TargetUnavailable with a clear message."""
        ...

    def run(self, scenario: Json, exchange: Exchange | None) -> Observations:
        """Run one scenario and return observations.

        Client scenarios: exchange is None; the origin is already listening.
        Server scenarios: start the servers, call exchange(addresses), collect the
        server-side observations, tear the servers down, and return them with
        "wire" set to what exchange returned.
        Must enforce scenario["timeout_ms"] (status "timeout") and raise TargetCrashed
        if the process died (after which the next run restarts it).
        """
        ...

    def stop(self) -> None:
        """Stop every process the target started."""
        ...
