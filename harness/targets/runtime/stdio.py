"""The stdio transport of the node, bun and deno targets: one long-lived runtime process
running ``harness/drivers/stdio_driver.mjs``, spoken to with JSON lines on stdin/stdout
(its stderr is its log). Spawning, restarts and clean-up: :mod:`.process`.

- A reply that does not come within ``timeout_ms`` + grace means the runtime is stuck:
  the process is killed, the cell gets ``status: "timeout"``, and the next scenario
  starts a fresh process.
- A process that dies mid-scenario raises ``TargetCrashed`` (with the tail of its
  stderr); the next scenario starts a fresh process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.observations import Observations, WireRecord, from_target
from harness.targets.base import Exchange, Json, Profile, TargetCrashed, TargetUnavailable
from harness.targets.runtime import DRIVERS
from harness.targets.runtime.process import ProcessTarget, RuntimeProcess
from harness.targets.runtime.serving import wait_readable
from harness.vocabulary import timing

DRIVER = DRIVERS / "stdio_driver.mjs"

# Extra seconds the harness waits for a reply beyond the scenario's own timeout_ms
# (which the executor enforces itself, answering "timeout" with partial observations).
DEFAULT_GRACE_S = timing("reply_grace_ms") / 1000
# finish_servers may spend up to this long closing servers after the scenario deadline.
SERVER_CLOSE_S = timing("server_close_ms") / 1000
START_TIMEOUT_S = 30.0


class ProcessDied(Exception):
    """The driver process exited (or its stdout closed)."""


class ReplyTimeout(Exception):
    """No reply within the allowed time."""


class DriverProcess(RuntimeProcess):
    """One runtime process running the stdio driver: JSON lines, replies matched by id.
    The caller's thread reads the replies itself (poll on the pipe with the deadline): a
    reader thread would cost a hand-off per reply."""

    def __init__(self, argv: list[str], label: str, env: dict[str, str] | None = None) -> None:
        super().__init__(argv, label, talks_on_stdio=True, env=env)
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        self._pending = bytearray()  # read, not yet a whole line
        self._eof = False
        self._next_id = 0
        self._lock = threading.Lock()  # one request at a time: a reply is read by its asker

    def _readable(self, timeout_s: float, serving: asyncio.AbstractEventLoop | None) -> bool:
        if serving is None:  # the common case: the registered poll object, no loop
            return bool(self._poll.poll(max(1, int(timeout_s * 1000) + 1)))
        return wait_readable(self._fd, timeout_s, serving)

    def _line(self, deadline: float, serving: asyncio.AbstractEventLoop | None = None) -> bytes | None:
        """The next line from stdout; None at its end; ReplyTimeout after the deadline."""
        while True:
            end = self._pending.find(b"\n")
            if end >= 0:
                line = bytes(self._pending[:end + 1])
                del self._pending[:end + 1]
                return line
            if self._eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReplyTimeout
            if not self._readable(remaining, serving):
                continue
            try:
                chunk = os.read(self._fd, 1 << 16)
            except OSError:
                chunk = b""
            if chunk:
                self._pending += chunk
            else:
                self._eof = True

    def _died(self) -> ProcessDied:
        # let the log reader catch up with the last words
        try:
            self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        self.log.join(0.5)
        return ProcessDied(f"exit code {self.returncode()}")

    def request(self, msg: Json, timeout: float, serving: asyncio.AbstractEventLoop | None = None) -> Json:
        """Send one command and wait for its reply (matched by id), running `serving` meanwhile."""
        return self.reply(self.send(msg), str(msg.get("cmd")), timeout, serving)

    def send(self, msg: Json) -> int:
        """Write one command; its id, for reply()."""
        if self.proc.stdin is None:
            raise ProcessDied("not started")
        with self._lock:
            self._next_id += 1
            line = json.dumps({"id": self._next_id, **msg}, separators=(",", ":")).encode() + b"\n"
            try:
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as e:
                raise ProcessDied(f"could not write to the process: {e}") from None
            return self._next_id

    def reply(self, msg_id: int, cmd: str, timeout: float, serving: asyncio.AbstractEventLoop | None = None) -> Json:
        """The reply to command msg_id (sent by send()), waited for at most `timeout` s."""
        with self._lock:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    raw = self._line(deadline, serving)
                except ReplyTimeout:
                    raise ReplyTimeout(f"no reply to {cmd!r} within {timeout:.1f} s") from None
                if raw is None:
                    raise self._died()
                try:
                    reply = json.loads(raw)
                except ValueError:
                    self.log.append("[stdout, not JSON] " + raw.decode("utf-8", "replace").rstrip("\n"))
                    continue
                if isinstance(reply, dict) and reply.get("id") == msg_id:
                    return reply
                # a stale reply (to a command whose wait was abandoned): drop it


class StdioTarget(ProcessTarget[DriverProcess]):
    """A target backed by one long-lived runtime process running stdio_driver.mjs.

    Subclasses set ``name`` (also the runtime's name in runtimes/) and may override
    ``argv``/``extra_env``.
    """

    profile: Profile = "node"
    capabilities: frozenset[str] = frozenset({"client", "server"})

    def __init__(self, **options: Any) -> None:
        # Known options: grace_s (extra seconds to wait beyond timeout_ms), binary (path
        # to use instead of the pinned one). Unknown options are ignored.
        super().__init__(options.get("binary"))
        self.grace_s = float(options.get("grace_s", DEFAULT_GRACE_S))
        self._version: str | None = None

    def argv(self, binary: Path) -> list[str]:
        return [str(binary), str(DRIVER)]

    def extra_env(self) -> dict[str, str]:
        return {}

    def version(self) -> str:
        if self._version is not None:
            return self._version
        with self._lock:
            if self._proc is not None and self._proc.alive():
                try:
                    reply = self._proc.request({"cmd": "version"}, timeout=10)
                    self._version = str(reply.get("version"))
                    return self._version
                except (ProcessDied, ReplyTimeout):
                    pass
        binary = self.binary()
        if binary is None:
            return f"not installed (pinned {self.pinned()})"
        try:
            out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"unknown ({e})"
        m = re.search(r"\d+\.\d+\.\d+[^\s)]*", out)
        self._version = m.group(0) if m else out.strip().splitlines()[0] if out.strip() else "unknown"
        return self._version

    # -- the process

    def _launch(self, binary: Path) -> DriverProcess:
        proc = DriverProcess(self.argv(binary), self.name, self.extra_env())
        try:
            reply = proc.request({"cmd": "version"}, timeout=START_TIMEOUT_S)
        except (ProcessDied, ReplyTimeout) as e:
            proc.kill()
            tail = proc.log.tail()
            raise TargetUnavailable(
                f"{self.name}: the driver did not start ({e}): {' '.join(self.argv(binary))};"
                f" if the runtime is broken, install it again: `{self.install_hint()}`"
                + (f"\n--- stderr tail ---\n{tail}" if tail else "")
            ) from None
        self._version = str(reply.get("version"))
        return proc

    def _restarted(self, scenario_id: str) -> DriverProcess:
        """The running process, or a fresh one (a failed restart is a crash of the cell)."""
        try:
            return self._ensure()
        except TargetUnavailable as e:
            raise TargetCrashed(f"{self.name}: could not (re)start the runtime for {scenario_id}: {e}") from None

    def _timed_out(self, proc: DriverProcess, what: str, waited: float) -> str:
        self._discard(proc)
        tail = proc.log.tail(chars=1500)
        return (
            f"{self.name} gave no reply to {what} within {waited:.1f} s (timeout_ms + {self.grace_s:g} s grace);"
            f" the process was killed and restarts on next use"
            + (f"\n--- stderr tail ---\n{tail}" if tail else "")
        )

    def bench_loop(self, spec: Json, timeout_s: float) -> Json:
        """drivers/bench.mjs's bare loop in this runtime (python -m harness bench)."""
        with self._lock:
            return self._ensure().request({"cmd": "bench", "spec": spec}, timeout=timeout_s)

    # -- running scenarios (the runner has checked kind and capabilities)

    def run(self, scenario: Json, exchange: Exchange | None) -> Observations:
        with self._lock:
            return self.begin(scenario, exchange)()

    def begin(self, scenario: Json, exchange: Exchange | None) -> Callable[[], Observations]:
        """Send the scenario's first command and return at once; the call returned waits for
        the rest and returns the observations. Meanwhile the runtime runs the scenario and the
        caller may judge the example before it (runner.Session.run_examples)."""
        sid = str(scenario.get("id", "?"))
        timeout_s = float(scenario.get("timeout_ms") or timing("default_timeout_ms")) / 1000.0
        with self._lock:
            proc = self._restarted(sid)
            started = time.monotonic()
            if scenario.get("kind") == "client":
                what = "the client scenario"
                sent = self._send(proc, sid, {"cmd": "client", "scenario": scenario}, what)

                def client() -> Observations:
                    with self._lock:
                        reply, failed = self._answer(proc, sid, sent, what, timeout_s + self.grace_s,
                                                     self.origin_loop())
                        return from_target(failed if reply is None else reply)
                return client
            if exchange is None:
                return lambda: from_target({"status": "error",
                                            "detail": "server scenario run without an exchange callback"})
            sent = self._send(proc, sid, {"cmd": "start_servers", "scenario": scenario}, "start_servers")

            def server() -> Observations:
                with self._lock:
                    return from_target(self._run_server(proc, sid, sent, started, timeout_s, exchange))
            return server

    def _send(self, proc: DriverProcess, sid: str, message: Json, what: str) -> int:
        try:
            return proc.send(message)
        except ProcessDied:
            raise self._crashed(proc, sid, what) from None

    def _answer(self, proc: DriverProcess, sid: str, msg_id: int, what: str, waited: float,
                serving: asyncio.AbstractEventLoop | None = None) -> tuple[Json | None, Json]:
        """The driver's reply to command msg_id: (reply, {}) or (None, the status and detail of
        a timeout or driver error); a dead process raises TargetCrashed."""
        try:
            reply = proc.reply(msg_id, what, timeout=waited, serving=serving)
        except ReplyTimeout:
            return None, {"status": "timeout", "detail": self._timed_out(proc, what, waited)}
        except ProcessDied:
            raise self._crashed(proc, sid, what) from None
        if "error" in reply:
            return None, {"status": "error", "detail": f"{self.name} driver: {reply['error']}"}
        reply.pop("id", None)
        return reply, {}

    def _run_server(self, proc: DriverProcess, sid: str, sent: int, started: float, timeout_s: float,
                    exchange: Exchange) -> Json:
        """A server scenario from its start_servers command (sent) on."""
        reply, failed = self._answer(proc, sid, sent, "start_servers", timeout_s + self.grace_s)
        if reply is None:
            return failed

        raw = reply.get("addresses") or []
        addresses: list[tuple[str, int]] = [(str(a[0]), int(a[1])) for a in raw if a]
        skipped_exchange = len(addresses) != len(raw) or not raw
        wire: WireRecord
        if skipped_exchange:
            # Some server did not start (its listen_error is in the observations):
            # there is nothing to send requests to.
            wire = {"responses": []}
        else:
            try:
                wire = exchange(addresses)
            except BaseException:
                # The harness side broke: still collect the servers so the process is
                # clean for the next scenario, then let the runner see the exception.
                try:
                    proc.request({"cmd": "finish_servers"}, timeout=self.grace_s + SERVER_CLOSE_S)
                except (ProcessDied, ReplyTimeout):
                    self._discard(proc)
                raise

        remaining = max(0.0, timeout_s - (time.monotonic() - started))
        waited = remaining + SERVER_CLOSE_S + self.grace_s
        finish = self._send(proc, sid, {"cmd": "finish_servers"}, "finish_servers")
        obs, failed = self._answer(proc, sid, finish, "finish_servers", waited)
        if obs is None:
            return {**failed, "wire": wire}
        if skipped_exchange and obs.get("status", "ok") == "ok":
            note = "no requests sent: a server did not start (see servers[].listen_error)"
            obs["detail"] = f"{obs['detail']}; {note}" if obs.get("detail") else note
        obs["wire"] = wire
        return obs
