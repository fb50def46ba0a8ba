"""App servers: one per target per app, started on first use and reused for the whole run.

How each runtime runs an app is harness/apps/launch.py. Each server is a process of its own (harness/targets/runtime/process.py keeps its log), on a free port
passed in the environment. A server is ready once it answers an HTTP request (the probe
path is one no app routes, so it meets the app's 404 handler); one that exits, that its
runtime says cannot load, or that stays silent is a start failure whose message carries
the runtime's log lines. A failure is remembered: the run goes on without retrying.
"""

from __future__ import annotations

import atexit
import random
import shutil
import socket
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.apps import layout
from harness.apps.launch import HOST, AppNotInstalled, AppStartError, Launcher, launcher
from harness.spec.loader import FIXED_LISTEN_PORTS
from harness.targets.runtime.process import RuntimeProcess

PROBE = b"GET /__harness/ready HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"
START_TIMEOUT_S = 30.0
# Below the ports specs listen on and the kernel's ephemeral range (README "Ports").
APP_PORTS = range(10000, FIXED_LISTEN_PORTS.start)
_PICK = random.SystemRandom()  # not the global generator: Hypothesis seeds it alike in every worker
LOG_LINES = 25


def free_port() -> int:
    """A port for an app to listen on, outside the kernel's ephemeral range: the app binds it
    after this socket closes, and in between a port from that range may be taken by any
    origin, raw client or other xdist worker (the app then fails, or its readiness probe
    meets someone else's server). Not one a spec listens on either."""
    low = _ephemeral_low()
    for _ in range(100):
        port = _PICK.randrange(APP_PORTS.start, APP_PORTS.stop) if low >= APP_PORTS.stop else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port for an app server")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # not Linux: the kernel's choice (bind to port 0)


def answers_http(port: int, timeout_s: float = 5.0) -> bool:
    """Whether a request to the port gets a status line back."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.settimeout(timeout_s)
            sock.sendall(PROBE)
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


class AppServer:
    """One app running on one target; raises AppStartError if it does not serve."""

    def __init__(self, target: str, app: str, launcher: Launcher, scratch: Path,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.target, self.app = target, app
        self.port = free_port()
        began = time.perf_counter()
        launch = launcher.prepare(target, app, self.port, scratch)
        self.process = RuntimeProcess(launch.argv, f"{target}:{app}", talks_on_stdio=False,
                                      env=launch.env, cwd=launch.cwd)
        try:
            self._wait_ready(launcher, began, start_timeout_s)
        except AppStartError:
            self.process.kill()
            raise
        self.start_ms = (time.perf_counter() - began) * 1000

    def _wait_ready(self, launcher: Launcher, began: float, timeout_s: float) -> None:
        while True:
            if not self.process.alive():
                self._fail(f"its process exited with code {self.process.returncode()}")
            if launcher.load_failed(self.process.log.lines()):
                self._fail("the runtime could not load it")
            if answers_http(self.port):
                return
            if time.perf_counter() - began > timeout_s:
                self._fail(f"no HTTP answer on {HOST}:{self.port} within {timeout_s:g} s")
            time.sleep(0.01)

    def _fail(self, why: str) -> None:
        if not self.process.alive():
            self.process.log.join(0.5)  # its last words
        tail = self.log_tail()
        raise AppStartError(f"the {self.app} app did not start on {self.target}: {why}"
                            + ("" if tail else " (nothing in its log)"), f"{self.target} log:\n{tail}" if tail else "")

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    def alive(self) -> bool:
        return self.process.alive()

    def log_tail(self, lines: int = LOG_LINES) -> str:
        return self.process.log.tail(lines)

    def stop(self) -> None:
        self.process.kill()


@dataclass
class _Slot:
    server: AppServer | None = None
    error: AppStartError | None = None
    starts: int = 0
    start_ms: float | None = None


class AppServers:
    """Every app server of a run, by (target, app): started once, stopped by close()."""

    def __init__(self, log: Callable[[str], None] = lambda _m: None) -> None:
        self.log = log
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._scratch: Path | None = None
        self._installed: set[str] = set()  # apps whose packages were found installed
        _LIVE.add(self)

    def get(self, target: str, app: str) -> AppServer:
        """The running server (started again if its process died); AppStartError if it
        could not start, now or earlier in the run."""
        if app not in self._installed:
            for directory in (layout.app_dir(app), layout.APPS_DIR):  # the app, and the bundler
                if not layout.installed(directory):
                    raise AppNotInstalled(f"{directory / 'node_modules'} does not match its package-lock.json "
                                          f"(the {app} app): run `{layout.INSTALL_HINT}`")
            self._installed.add(app)
        slot = self._slots.setdefault((target, app), _Slot())
        if slot.error is not None:
            raise slot.error
        if slot.server is not None and slot.server.alive():
            return slot.server
        how = launcher(target)
        if how is None:
            slot.error = AppStartError(f"the harness has no way to run an app on {target} (harness/apps/serve.py LAUNCHERS)")
            raise slot.error
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="harness-apps-"))
        slot.starts += 1
        try:
            slot.server = AppServer(target, app, how, self._scratch)
        except AppStartError as exc:
            slot.error = exc
            self.log(exc.why)
            raise
        slot.start_ms = slot.server.start_ms
        return slot.server

    def info(self) -> dict[str, dict[str, Any]]:
        """app -> {pinned: its packages, targets: target -> how it ran (start time, processes
        started, or why it did not start)}."""
        out: dict[str, dict[str, Any]] = {}
        for (target, app), slot in sorted(self._slots.items()):
            how = launcher(target)
            entry: dict[str, Any] = {"started": slot.error is None, "processes_started": slot.starts,
                                     **(how.describe(target) if how is not None else {})}
            if slot.start_ms is not None:
                entry["start_ms"] = round(slot.start_ms, 1)
            if slot.error is not None:
                entry.update(error=slot.error.why, log=slot.error.log)
            ran = out.setdefault(app, {"pinned": layout.dependencies(app), "targets": {}})
            ran["targets"][target] = entry
        return out

    def close(self) -> None:
        for slot in self._slots.values():
            if slot.server is not None:
                slot.server.stop()
                slot.server = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


# Not closed yet: closed at exit, so no app process outlives the harness.
_LIVE: weakref.WeakSet[AppServers] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for servers in list(_LIVE):
        servers.close()
