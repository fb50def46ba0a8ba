"""The impl target: scenarios run in-process on the Python reference (harness/reference/).

A thin adapter: executor.py / server.py run the scenario on the reference
exactly as executor.mjs runs it on node:http, and front.py provides the asyncio
loop and the uvicorn front end that carries server scenarios through the reference's
bridge. A loop that stops answering (the reference blocked it) is abandoned and a fresh
one started, so one wedged scenario costs one "timeout" and nothing more.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import threading
import time
from typing import Any

import harness
from harness.observations import Observations, from_target
from harness.reference import http as ref_http
from harness.reference.port_table import PORTS
from harness.targets.base import Exchange, Json, Profile, TargetUnavailable
from harness.targets.impl.executor import empty_client_observations, run_client
from harness.targets.impl.fault_hooks import Fault, FaultContext, FaultUnavailable, load
from harness.targets.impl.front import DEFAULT_SLOTS, Front, Routing
from harness.targets.impl.server import ServerSession, finish_servers, start_servers
from harness.vocabulary import timing

DEFAULT_GRACE_S = timing("reply_grace_ms") / 1000
CLOSE_S = timing("server_close_ms") / 1000  # finish_servers may take this long after the deadline


class ImplTarget:
    name = "impl"
    profile: Profile = "fetch-backed"
    capabilities: frozenset[str] = frozenset({"client", "server", "bridge"})

    def __init__(self, fault: str | None = None, **options: Any) -> None:
        # Known options: grace_s (seconds beyond timeout_ms before the loop counts as
        # wedged), slots (bridge sockets, i.e. the most servers one scenario may have).
        self.fault_name = fault
        self.grace_s = float(options.get("grace_s", DEFAULT_GRACE_S))
        self.slots = int(options.get("slots", DEFAULT_SLOTS))
        self.fault: Fault | None = None
        self.processes_started = 0  # loops started (1 unless one wedged)
        self._front: Front | None = None
        self._lock = threading.Lock()

    # ---- Target protocol ---------------------------------------------------------------

    def version(self) -> str:
        return f"reference {harness.__version__}"

    def installed(self) -> bool:
        return True

    def install_hint(self) -> str:
        return "pip install -e . (the reference is part of the harness)"

    def start(self) -> None:
        try:
            self.fault = load(self.fault_name, FaultContext(self.name, ref_http))
        except FaultUnavailable as exc:
            raise TargetUnavailable(str(exc)) from exc
        with self._lock:
            self._ensure()

    def stop(self) -> None:
        with self._lock:
            if self._front is not None:
                self._front.stop()
                self._front = None

    def abandon(self) -> None:
        """The runner's watchdog gave up on a scenario (harness/watchdog.py): the loop is
        forgotten and a fresh one serves the next. The scenario itself ends by its own
        waits, each bounded (timeout_ms + grace), so it may run on the runner's thread."""
        front = self._front
        if front is not None:
            front.abandon()
            self._front = None

    def origin_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the reference runs on: a client scenario's origin is served there too, so
        fetch reaches it without a hand-off to the wire thread (1.5 ms of CPU less per client
        example, measured: 6.7 instead of 8.2 ms)."""
        with self._lock:
            return self._ensure().loop

    def run(self, scenario: Json, exchange: Exchange | None) -> Observations:
        # The runner has checked kind and capabilities.
        timeout_s = float(scenario.get("timeout_ms") or timing("default_timeout_ms")) / 1000
        if self.fault is not None:
            scenario = self.fault.on_scenario(copy.deepcopy(scenario))
        with self._lock:
            front = self._ensure()
            if scenario.get("kind") == "client":
                return from_target(self._run_client(front, scenario, timeout_s))
            if exchange is None:
                return {"status": "error", "detail": "server scenario run without an exchange callback"}
            return from_target(self._run_server(front, scenario, timeout_s, exchange))

    # ---- internals ---------------------------------------------------------------------

    def _ensure(self) -> Front:
        if self._front is not None:
            return self._front
        front = Front(self.slots)
        try:
            front.start()
        except Exception as exc:
            front.abandon()
            raise TargetUnavailable(f"impl: the asyncio loop / uvicorn front end did not start: {exc!r}") from exc
        self.processes_started += 1
        self._front = front
        return front

    def _wedged(self, front: Front, what: str, waited: float) -> str:
        """The loop gave no answer in time: replace it if it stopped answering at all."""
        if front.alive():
            return f"impl gave no answer to {what} within {waited:.1f} s (timeout_ms + {self.grace_s:g} s grace)"
        front.abandon()
        self._front = None
        return (f"impl's event loop stopped answering during {what} (waited {waited:.1f} s): "
                "something in the reference blocked it; a fresh loop serves the next scenario")

    def _run_client(self, front: Front, scenario: Json, timeout_s: float) -> Json:
        obs = empty_client_observations()
        waited = timeout_s + self.grace_s
        future = front.submit(run_client(ref_http, scenario, self.fault, obs))
        try:
            return future.result(waited)
        except concurrent.futures.TimeoutError:
            future.cancel()
            partial = _snapshot(obs)
            partial["status"] = "timeout"
            partial["detail"] = self._wedged(front, "the client scenario", waited)
            return partial

    def _run_server(self, front: Front, scenario: Json, timeout_s: float, exchange: Exchange) -> Json:
        started = time.monotonic()
        waited = timeout_s + self.grace_s
        specs = scenario.get("servers") or []
        if len(specs) > len(front.addresses):
            return {"status": "skipped", "detail": f"the impl target has {len(front.addresses)} bridge slots; "
                                                   f"this scenario has {len(specs)} servers"}

        async def begin() -> ServerSession:
            session = await start_servers(ref_http, scenario, _listen, self.fault)
            front.current = Routing.of(session)
            return session

        try:
            session = front.call(begin(), waited)
        except concurrent.futures.TimeoutError:
            return {"status": "timeout", "detail": self._wedged(front, "starting the servers", waited)}
        routing = front.current
        if session.obs["status"] != "ok":
            # Nothing was started (a scenario the vocabulary refuses): there is nothing to send to.
            return {**(self._finish(front, session, CLOSE_S + self.grace_s) or session.obs), "wire": {"responses": []}}
        try:
            # Every server slot is reachable even if listen failed: requests then go to
            # the port key the server asked for (SCENARIO.md, workerd bridge routing).
            wire = exchange(front.addresses[: len(specs)])
        except BaseException:
            self._finish(front, session, CLOSE_S + self.grace_s)
            raise
        remaining = max(0.0, timeout_s - (time.monotonic() - started))
        waited = remaining + CLOSE_S + self.grace_s
        obs = self._finish(front, session, waited)
        if obs is None:
            obs = _snapshot(session.obs)
            obs["status"] = "timeout"
            obs["detail"] = self._wedged(front, "finishing the servers", waited)
        if routing is not None and routing.notes:
            notes = "; ".join(routing.notes)
            obs["detail"] = f"{obs['detail']}; {notes}" if obs.get("detail") else notes
        obs["wire"] = self.fault.on_wire(wire) if self.fault is not None else wire
        return obs

    def _finish(self, front: Front, session: ServerSession, waited: float) -> Json | None:
        async def end() -> Json:
            try:
                return await finish_servers(session)
            finally:
                front.current = None

        try:
            return front.call(end(), waited)
        except concurrent.futures.TimeoutError:
            front.current = None
            _release_ports(session)
            return None


async def _listen(server: Any, port: Any) -> tuple[str, int]:
    """Listen on a port key; answers once 'listening' fired, raises the 'error' error."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def on_error(err: Any = None, *_a: Any) -> None:
        if not done.done():
            done.set_exception(err if isinstance(err, BaseException) else RuntimeError(repr(err)))

    def on_listening(*_a: Any) -> None:
        if not done.done():
            done.set_result(None)

    server.once("error", on_error)
    try:
        server.listen(port, on_listening)
        await done
    finally:
        server.off("error", on_error)
    address = server.address()
    return "127.0.0.1", int(address["port"]) if address else port


def _release_ports(session: ServerSession) -> None:
    """The loop may be wedged with the servers open: free their keys in the (thread-safe,
    process-wide) port table so the next scenario can listen on them again."""
    for server in session.servers:
        try:
            address = server.address() if server is not None else None
            if address:
                PORTS.release(int(address["port"]), server)
        except Exception:  # noqa: BLE001, S112 - best effort
            continue


def _snapshot(obs: Json) -> Json:
    """A copy of observations another thread may still be writing (a wedged loop is not);
    nothing if it kept changing (the runner fills in the empty observations)."""
    for _ in range(3):
        try:
            return copy.deepcopy(obs)
        except RuntimeError:  # changed size during the copy: try again
            time.sleep(0.01)
    return {}
