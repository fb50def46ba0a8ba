"""The process plumbing every runtime target shares; each keeps only its own transport.

- :class:`LogBuffer`: what a process writes to its log stream, kept in a bounded buffer
  by a daemon thread, so start failures, crashes and timeouts can quote its tail.
- :class:`RuntimeProcess`: one child process: spawned with ``os.environ`` (so
  NODE_OPTIONS and friends reach it), its log kept, killed and reaped.
- :class:`ProcessTarget`: a target backed by one long-lived process: found in
  runtimes/ (or a ``binary`` option), started once, started again after it died,
  counted (``starts``), stopped by ``stop()`` and by an atexit hook for anything left.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import os
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Generic, TypeVar

from harness.targets.base import TargetCrashed, TargetUnavailable
from harness.targets.runtime import install
from harness.targets.runtime.serving import drain

LOG_LINES = 500
LINE_LIMIT = 4000  # characters kept of one log line


class LogBuffer:
    """The last lines a process wrote, read by a daemon thread, bounded in size."""

    def __init__(self, stream: IO[bytes], label: str) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.count = 0  # lines ever written: a mark for since()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), name=f"{label}-log", daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        try:
            for raw in iter(stream.readline, b""):
                self.append(raw.decode("utf-8", "replace").rstrip("\n"))
        except (OSError, ValueError):
            pass
        finally:
            stream.close()

    def append(self, line: str) -> None:
        with self._changed:
            self._lines.append(line[:LINE_LIMIT])
            self.count += 1
            self._changed.notify_all()

    def lines(self) -> list[str]:
        with self._changed:
            return list(self._lines)

    def since(self, mark: int) -> list[str]:
        """Lines written after count was mark (those still in the buffer)."""
        with self._changed:
            new = self.count - mark
            return list(self._lines)[-new:] if new > 0 else []

    def tail(self, lines: int = 30, chars: int = 4000) -> str:
        """The last lines, at most chars characters of them."""
        return "\n".join(self.lines()[-lines:])[-chars:].strip()

    def wait_until(self, found: Callable[[list[str]], bool], timeout: float) -> list[str]:
        """The lines once found(lines) holds, or when timeout seconds have passed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                lines = list(self._lines)
                left = deadline - time.monotonic()
                if found(lines) or left <= 0:
                    return lines
                self._changed.wait(left)

    def join(self, timeout: float) -> None:
        """Wait for the last words of a process that exited."""
        self._thread.join(timeout)


class RuntimeProcess:
    """One child process with its log.

    talks_on_stdio: the transport is stdin/stdout and the log is stderr; otherwise stdin
    is /dev/null and stdout and stderr together are the log.
    """

    def __init__(self, argv: Sequence[str], label: str, *, talks_on_stdio: bool,
                 env: dict[str, str] | None = None, cwd: Path | None = None,
                 pass_fds: Sequence[int] = ()) -> None:
        self.label = label
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if talks_on_stdio else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if talks_on_stdio else subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                pass_fds=list(pass_fds),
            )
        except OSError as exc:
            raise TargetUnavailable(f"{label}: cannot start {argv[0]}: {exc}") from None
        log_stream = self.proc.stderr if talks_on_stdio else self.proc.stdout
        assert log_stream is not None
        self.log = LogBuffer(log_stream, label)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def returncode(self) -> int | None:
        return self.proc.poll()

    def died(self, within: float = 1.0) -> bool:
        """Whether the process has exited, allowing it `within` seconds to finish exiting
        (a broken pipe or a connection reset can arrive just before the process is gone)."""
        deadline = time.monotonic() + within
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def kill(self) -> None:
        """Kill the process (this one only), reap it and read its last log lines."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.join(1.0)

    def close(self, timeout: float = 2.0) -> None:
        """Let a process on stdio exit on its own once its stdin closes; kill what lingers."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


P = TypeVar("P", bound=RuntimeProcess)

class ProcessTarget(Generic[P]):
    """A target backed by one long-lived runtime process (pinned in runtimes/ under the
    target's name). Subclasses set ``name`` and implement ``_launch`` (spawn and wait
    until ready) and ``run``; ``_cleanup`` frees anything else they hold at stop. An
    instance of a parameterised target names itself (``workerd@2025-09-15``); the class's
    name stays the runtime's."""

    name: str = ""

    def __init__(self, binary: str | Path | None = None) -> None:
        self._binary_override = Path(binary) if binary else None
        self._proc: P | None = None
        self._lock = threading.RLock()
        self.starts = 0  # processes spawned, restarts included
        self._origin_loop: asyncio.AbstractEventLoop | None = None  # made on first use
        _LIVE.add(self)  # type: ignore[arg-type]

    @property
    def restarts(self) -> int:
        """How many times the process was started again after the first start."""
        return max(self.starts - 1, 0)

    # -- identity and installation

    @property
    def runtime(self) -> str:
        """The runtime pinned in runtimes/, whatever this instance is called."""
        return type(self).name

    def binary(self) -> Path | None:
        if self._binary_override is not None:
            return self._binary_override if self._binary_override.is_file() else None
        return install.binary(self.runtime)

    def installed(self) -> bool:
        return self.binary() is not None

    def install_hint(self) -> str:
        return f"{install.INSTALL_HINT} {self.runtime}"

    def pinned(self) -> str:
        try:
            return install.pinned_version(self.runtime)
        except Exception:  # noqa: BLE001 - only for a message
            return "?"

    # -- lifecycle

    def start(self) -> None:
        with self._lock:
            self._ensure()

    def origin_loop(self) -> asyncio.AbstractEventLoop:
        """The loop this target runs while it waits for a client scenario's reply: the runner
        opens the scenario's origin on it (harness/targets/runtime/serving.py)."""
        if self._origin_loop is None or self._origin_loop.is_closed():
            self._origin_loop = asyncio.new_event_loop()
        return self._origin_loop

    def stop(self) -> None:
        # A scenario still running in another thread gets a few seconds, then loses its
        # process anyway (stop must not hang, e.g. at exit).
        locked = self._lock.acquire(timeout=5)
        try:
            if self._proc is not None:
                self._proc.close()
                self._proc = None
            self._cleanup()
            if self._origin_loop is not None and not self._origin_loop.is_running():
                drain(self._origin_loop)
                self._origin_loop.close()
        finally:
            if locked:
                self._lock.release()

    @property
    def pid(self) -> int | None:
        """The running process's id (None before start or after it died and was reaped)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.alive() else None

    def abandon(self) -> None:
        """Kill the running process without waiting for the scenario that holds the lock
        (the runner's watchdog, harness/watchdog.py); that scenario ends as a crash."""
        proc = self._proc
        if proc is not None:
            proc.kill()

    def _ensure(self) -> P:
        """The running process; a fresh one if there is none or it died."""
        if self._proc is not None and self._proc.alive():
            return self._proc
        if self._proc is not None:
            self._discard(self._proc)
        binary = self.binary()
        if binary is None:
            raise TargetUnavailable(
                f"{self.name} is not installed: run `{self.install_hint()}`"
                f" (pinned {self.pinned()} in runtimes/package.json)"
            )
        self.starts += 1
        self._proc = self._launch(binary)
        return self._proc

    def _launch(self, binary: Path) -> P:
        """Spawn the process and wait until it answers; TargetUnavailable if it does not."""
        raise NotImplementedError

    def _cleanup(self) -> None:
        """Free what the target holds besides its process (called by stop)."""

    def _discard(self, proc: P) -> None:
        """Kill proc; the next scenario starts a fresh process."""
        proc.kill()
        if self._proc is proc:
            self._proc = None

    def _crashed(self, proc: P, scenario_id: str, what: str) -> TargetCrashed:
        self._discard(proc)
        tail = proc.log.tail()
        return TargetCrashed(
            f"{self.name} exited (code {proc.returncode()}, pid {proc.pid}) while running {scenario_id}"
            f" ({what}); it restarts on next use" + (f"\n--- {self.name} log ---\n{tail}" if tail else "")
        )


# Targets not stopped yet: stopped at exit, so no runtime process outlives the harness.
_LIVE: weakref.WeakSet[ProcessTarget[RuntimeProcess]] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for target in list(_LIVE):
        try:
            target.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
