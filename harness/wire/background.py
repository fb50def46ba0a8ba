"""Wire: one background thread running the asyncio loop that every origin shares.

Callers stay synchronous: each call submits a coroutine to the loop and waits for it. An
exchange (the raw client) runs on the calling thread with no loop at all: no hand-off to the
wire thread and back (0.1-0.2 ms of a 0.45 ms exchange), no loop turns (0.35 -> 0.09 ms). A client
scenario's origin lives on the loop its target runs the scenario on (`origin(..., loop=)`,
the targets' `origin_loop`; harness/targets/runtime/serving.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

from harness.observations import WireRecord

from .codec import Json
from .origin import OriginHandle, OriginServer, Started, StartOnIdleLoop
from .raw_client import run_exchange

T = TypeVar("T")

# How long a call to an origin on another target's loop may take (a healthy loop answers in
# well under a millisecond): a loop the watchdog abandoned never answers (OriginHandle.finish).
HOSTED_CALL_S = 2.0


def _call_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(HOSTED_CALL_S)


class Wire:
    """Owns one background thread running an asyncio loop; started once per test session."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._origins: set[OriginHandle] = set()
        self._lock = threading.Lock()
        self._closed = False
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="harness-wire", daemon=True
        )
        self._thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(started.set)
        self._loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the wire loop; for callers that wait in their own way."""
        if self._closed:
            coro.close()
            raise RuntimeError("Wire is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the wire loop and wait for its result (never from the loop itself)."""
        if threading.get_ident() == self._thread.ident:
            coro.close()
            raise RuntimeError("a blocking Wire call was made from the wire loop; use submit()")
        return self.submit(coro).result(timeout)

    def origin(self, responses: list[Json], loop: asyncio.AbstractEventLoop | None = None) -> OriginHandle:
        """Open a scripted origin on 127.0.0.1:<free port> for one scenario. `loop`: the loop
        the target runs its scenario on, which serves the origin too: an idle loop of the
        caller's that the target runs while it waits (node, bun, deno, workerd), or impl's
        running loop (harness/targets/runtime/serving.py has the figures). None: the wire
        thread serves it."""
        server = OriginServer(list(responses))  # validates the script in the caller's thread
        sock = server.listen()
        if self._closed:
            sock.close()
            raise RuntimeError("Wire is closed")
        started: Started
        if loop is not None and loop.is_running():  # another thread's loop (impl's): calls go there
            started = asyncio.run_coroutine_threadsafe(server.start(sock), loop)
            handle = OriginHandle(self, server, started, functools.partial(_call_on, loop))
        elif loop is not None:
            # Started by the loop's next turn (the target's wait for its reply), while the
            # runtime is still reading the command: not a turn of its own before it.
            handle = OriginHandle(self, server, StartOnIdleLoop(loop, server.start(sock)),
                                  loop.run_until_complete, idle_loop=True)
        else:
            try:
                started = self.submit(server.start(sock))
            except RuntimeError:  # the wire is closed
                sock.close()
                raise
            handle = OriginHandle(self, server, started, self.call)
        with self._lock:
            self._origins.add(handle)
        return handle

    def forget(self, handle: OriginHandle) -> None:
        with self._lock:
            self._origins.discard(handle)

    def exchange(
        self, requests: list[Json], addresses: list[tuple[str, int]], timeout_s: float
    ) -> WireRecord:
        """Send `requests` with the raw client and return {"responses": [...]}.

        Blocks the calling thread (the raw client needs no loop: harness/wire/raw_client.py),
        so never call it from a running event loop: a target serving on that loop would hang.
        """
        if self._closed:
            raise RuntimeError("Wire is closed")
        if asyncio._get_running_loop() is not None:
            raise RuntimeError("a blocking Wire call was made from an event loop; call it from another thread")
        return cast(WireRecord, run_exchange(requests, addresses, timeout_s))

    def close(self) -> None:
        """Close every origin still open, stop the loop and join the thread. Idempotent."""
        if self._closed:
            return
        with self._lock:
            origins = list(self._origins)
        for handle in origins:
            with contextlib.suppress(RuntimeError, TimeoutError):  # its loop closed or gone
                handle.close()
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
