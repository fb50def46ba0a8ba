"""Shared machinery of the node, bun and deno targets: one long-lived runtime process
running ``harness/drivers/stdio_driver.mjs``, spoken to with JSON lines on stdin/stdout.

- The process starts once (``start()``) and serves every scenario of the session.
- A reply that does not come within ``timeout_ms`` + grace means the runtime is stuck:
  the process is killed, the cell gets ``status: "timeout"``, and the next scenario
  starts a fresh process.
- A process that dies mid-scenario raises ``TargetCrashed`` (with the tail of its
  stderr); the next scenario starts a fresh process.
- stderr is kept in a bounded buffer and its tail goes into error messages.
- Processes inherit ``os.environ`` (so NODE_OPTIONS and friends reach them); ``stop()``
  kills them, and so does an atexit hook for anything left running.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import queue
import re
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from harness.targets.runtime import install
from harness.targets.base import Exchange, Json, Profile, TargetCrashed, TargetUnavailable

DRIVER = Path(__file__).resolve().parents[1] / "drivers" / "stdio_driver.mjs"

DEFAULT_TIMEOUT_MS = 5000
# Extra seconds the harness waits for a reply beyond the scenario's own timeout_ms
# (which the executor enforces itself, answering "timeout" with partial observations).
DEFAULT_GRACE_S = 2.0
# finish_servers may spend up to this long closing servers after the scenario deadline.
SERVER_CLOSE_S = 1.5
START_TIMEOUT_S = 30.0
STDERR_LIMIT = 64 * 1024
STDERR_TAIL = 4000

_EOF = object()


class ProcessDied(Exception):
    """The driver process exited (or its stdout closed)."""


class ReplyTimeout(Exception):
    """No reply within the allowed time."""


class DriverProcess:
    """One runtime process running the stdio driver."""

    def __init__(self, argv: list[str], label: str, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.label = label
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[Any] = queue.Queue()
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_size = 0
        self._stderr_lock = threading.Lock()
        self._next_id = 0
        self._write_lock = threading.Lock()

    # -- lifecycle

    def spawn(self) -> None:
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        _LIVE.add(self)
        threading.Thread(target=self._read_stdout, name=f"{self.label}-stdout", daemon=True).start()
        threading.Thread(target=self._read_stderr, name=f"{self.label}-stderr", daemon=True).start()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def kill(self) -> None:
        """Kill the process (this one only) and reap it."""
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
        except OSError:
            pass
        if proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        _LIVE.discard(self)

    def close(self, timeout: float = 2.0) -> None:
        """Close stdin (the driver exits when its work is done); kill if it lingers."""
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    # -- I/O

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stream = self.proc.stdout
        try:
            for raw in stream:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    self._keep_stderr(b"[stdout, not JSON] " + raw)
                    continue
                self._replies.put(msg)
        except (OSError, ValueError):
            pass
        finally:
            self._replies.put(_EOF)

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        stream = self.proc.stderr
        try:
            while True:
                data = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
                if not data:
                    break
                self._keep_stderr(data)
        except (OSError, ValueError):
            pass

    def _keep_stderr(self, data: bytes) -> None:
        with self._stderr_lock:
            self._stderr.append(data)
            self._stderr_size += len(data)
            while self._stderr_size > STDERR_LIMIT and len(self._stderr) > 1:
                self._stderr_size -= len(self._stderr.popleft())

    def stderr_tail(self, limit: int = STDERR_TAIL) -> str:
        with self._stderr_lock:
            data = b"".join(self._stderr)
        text = data[-limit:].decode("utf-8", "replace").strip()
        return text

    def request(self, msg: Json, timeout: float) -> Json:
        """Send one command and wait for its reply (matched by id)."""
        if self.proc is None or self.proc.stdin is None:
            raise ProcessDied("not started")
        self._next_id += 1
        msg_id = self._next_id
        line = json.dumps({"id": msg_id, **msg}, separators=(",", ":")).encode() + b"\n"
        with self._write_lock:
            try:
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as e:
                raise ProcessDied(f"could not write to the process: {e}") from None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReplyTimeout(f"no reply to {msg.get('cmd')!r} within {timeout:.1f} s")
            try:
                reply = self._replies.get(timeout=remaining)
            except queue.Empty:
                continue
            if reply is _EOF:
                self._replies.put(_EOF)  # later callers see it too
                # let the stderr reader catch up with the last words
                try:
                    self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
                time.sleep(0.05)
                raise ProcessDied(f"exit code {self.returncode()}")
            if isinstance(reply, dict) and reply.get("id") == msg_id:
                return reply
            # a stale reply (to a command whose wait was abandoned): drop it


_LIVE: weakref.WeakSet[DriverProcess] = weakref.WeakSet()


@atexit.register
def _kill_all() -> None:
    for p in list(_LIVE):
        try:
            p.kill()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def empty_client_observations(status: str, detail: str) -> Json:
    return {
        "status": status, "detail": detail, "threw": None, "calls": [], "events": [],
        "response": None, "body": {"$bytes": ""}, "chunks": [], "props": {},
    }


def empty_server_observations(status: str, detail: str, wire: Json | None = None) -> Json:
    return {
        "status": status, "detail": detail, "servers": [], "requests": [],
        "wire": wire if wire is not None else {"responses": []},
    }


def _empty(kind: str, status: str, detail: str) -> Json:
    if kind == "server":
        return empty_server_observations(status, detail)
    return empty_client_observations(status, detail)


class StdioTarget:
    """A target backed by one long-lived runtime process running stdio_driver.mjs.

    Subclasses set ``name`` and ``runtime`` and may override ``argv``/``extra_env``.
    """

    name: ClassVar[str] = ""
    runtime: ClassVar[str] = ""  # key in harness.targets.runtime.install
    profile: Profile = "node"
    capabilities: frozenset[str] = frozenset({"client", "server"})

    def __init__(self, **options: Any) -> None:
        # Known options: grace_s (extra seconds to wait beyond timeout_ms), binary (path
        # to use instead of the pinned one). Unknown options are ignored.
        self.grace_s = float(options.get("grace_s", DEFAULT_GRACE_S))
        self._binary_override = Path(options["binary"]) if options.get("binary") else None
        self._proc: DriverProcess | None = None
        self._version: str | None = None
        self._lock = threading.RLock()
        self.starts = 0  # how many processes this target has spawned (restarts included)

    # -- Target protocol: identity and installation

    def binary(self) -> Path | None:
        if self._binary_override is not None:
            return self._binary_override if self._binary_override.is_file() else None
        return install.binary(self.runtime)

    def installed(self) -> bool:
        return self.binary() is not None

    def install_hint(self) -> str:
        return f"{install.INSTALL_HINT} {self.runtime}"

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
            return f"not installed (pinned {self._pinned()})"
        try:
            out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"unknown ({e})"
        m = re.search(r"\d+\.\d+\.\d+[^\s)]*", out)
        self._version = m.group(0) if m else out.strip().splitlines()[0] if out.strip() else "unknown"
        return self._version

    def _pinned(self) -> str:
        try:
            return install.pinned_version(self.runtime)
        except Exception:  # noqa: BLE001 - only for a message
            return "?"

    # -- lifecycle

    def start(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.alive():
                return
            self._spawn()

    def _spawn(self) -> None:
        binary = self.binary()
        if binary is None:
            raise TargetUnavailable(
                f"{self.name} is not installed: run `{self.install_hint()}`"
                f" (pinned {self._pinned()} in runtimes/package.json)"
            )
        proc = DriverProcess(self.argv(binary), self.name, self.extra_env())
        try:
            proc.spawn()
        except OSError as e:
            raise TargetUnavailable(f"{self.name}: cannot start {binary}: {e}") from None
        self.starts += 1
        try:
            reply = proc.request({"cmd": "version"}, timeout=START_TIMEOUT_S)
        except (ProcessDied, ReplyTimeout) as e:
            tail = proc.stderr_tail()
            proc.kill()
            raise TargetUnavailable(
                f"{self.name}: the driver did not start ({e}): {' '.join(self.argv(binary))}"
                + (f"\n--- stderr tail ---\n{tail}" if tail else "")
            ) from None
        self._version = str(reply.get("version"))
        self._proc = proc

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None:
                self._proc.close()
                self._proc = None

    def _ensure(self, scenario_id: str) -> DriverProcess:
        if self._proc is not None and self._proc.alive():
            return self._proc
        if self._proc is not None:
            self._proc.kill()
            self._proc = None
        try:
            self._spawn()
        except TargetUnavailable as e:
            raise TargetCrashed(f"{self.name}: could not (re)start the runtime for {scenario_id}: {e}") from None
        assert self._proc is not None
        return self._proc

    def _crashed(self, proc: DriverProcess, scenario_id: str, what: str) -> TargetCrashed:
        tail = proc.stderr_tail()
        proc.kill()
        if self._proc is proc:
            self._proc = None
        return TargetCrashed(
            f"{self.name} (pid {proc.pid}) died while running {scenario_id} ({what}):"
            f" exit code {proc.returncode()}; it restarts on next use"
            + (f"\n--- stderr tail ---\n{tail}" if tail else "")
        )

    def _timed_out(self, proc: DriverProcess, scenario_id: str, what: str, waited: float) -> str:
        tail = proc.stderr_tail(1500)
        proc.kill()
        if self._proc is proc:
            self._proc = None
        return (
            f"{self.name} gave no reply to {what} within {waited:.1f} s (timeout_ms + {self.grace_s:g} s grace);"
            f" the process was killed and restarts on next use"
            + (f"\n--- stderr tail ---\n{tail}" if tail else "")
        )

    # -- running scenarios

    def run(self, scenario: Json, exchange: Exchange | None) -> Json:
        kind = scenario.get("kind")
        sid = str(scenario.get("id", "?"))
        if kind not in ("client", "server"):
            return _empty("client", "error", f"unknown scenario kind {kind!r}")
        missing = sorted((set(scenario.get("requires") or []) | {kind}) - set(self.capabilities))
        if missing:
            return _empty(kind, "skipped", f"{self.name} lacks {', '.join(missing)}: it has {', '.join(sorted(self.capabilities))}")
        timeout_s = float(scenario.get("timeout_ms") or DEFAULT_TIMEOUT_MS) / 1000.0
        with self._lock:
            if kind == "client":
                return self._run_client(scenario, sid, timeout_s)
            return self._run_server(scenario, sid, timeout_s, exchange)

    def _run_client(self, scenario: Json, sid: str, timeout_s: float) -> Json:
        proc = self._ensure(sid)
        reply, failed = self._ask(proc, sid, {"cmd": "client", "scenario": scenario}, "the client scenario",
                                  timeout_s + self.grace_s, empty_client_observations)
        return failed if reply is None else reply

    def _ask(self, proc: Any, sid: str, message: Json, what: str, waited: float,
             empty: Callable[[str, str], Json]) -> tuple[Json | None, Json]:
        """One command to the driver: (reply, {}) or (None, the observations of a timeout
        or driver error); a dead process raises TargetCrashed."""
        try:
            reply = proc.request(message, timeout=waited)
        except ReplyTimeout:
            return None, empty("timeout", self._timed_out(proc, sid, what, waited))
        except ProcessDied:
            raise self._crashed(proc, sid, what) from None
        if "error" in reply:
            return None, empty("error", f"{self.name} driver: {reply['error']}")
        reply.pop("id", None)
        return reply, {}

    def _run_server(self, scenario: Json, sid: str, timeout_s: float, exchange: Exchange | None) -> Json:
        if exchange is None:
            return empty_server_observations("error", "server scenario run without an exchange callback")
        proc = self._ensure(sid)
        started = time.monotonic()
        reply, failed = self._ask(proc, sid, {"cmd": "start_servers", "scenario": scenario}, "start_servers",
                                  timeout_s + self.grace_s, empty_server_observations)
        if reply is None:
            return failed

        raw = reply.get("addresses") or []
        addresses: list[tuple[str, int]] = [(str(a[0]), int(a[1])) for a in raw if a]
        skipped_exchange = len(addresses) != len(raw) or not raw
        wire: Json
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
                    proc.kill()
                    self._proc = None
                raise

        remaining = max(0.0, timeout_s - (time.monotonic() - started))
        waited = remaining + SERVER_CLOSE_S + self.grace_s
        obs, failed = self._ask(proc, sid, {"cmd": "finish_servers"}, "finish_servers", waited,
                                lambda status, detail: empty_server_observations(status, detail, wire))
        if obs is None:
            return failed
        if skipped_exchange:
            note = "no requests sent: a server did not start (see servers[].listen_error)"
            obs["detail"] = f"{obs['detail']}; {note}" if obs.get("detail") else note
        obs["wire"] = wire
        return obs
