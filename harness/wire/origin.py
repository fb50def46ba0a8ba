"""The scripted origin: one listener per scenario, recording every request that reaches it.

Requests are read and recorded by one task per connection (origin_reader) while a second
task answers them in order (origin_writer), so a response can start before the request
body has ended (`read_body: false`) and body bytes are still recorded afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, cast

from harness.observations import WireRecord

from .clock import Clock
from .codec import Json
from .heads import RequestHead
from .origin_reader import RequestReader
from .origin_record import RequestRecord, request_framing
from .origin_writer import Output, check_response, write_response

if TYPE_CHECKING:
    from .background import Wire


class OriginServer:
    """Lives on the Wire loop; every method runs there."""

    def __init__(self, responses: list[Json]) -> None:
        for spec in responses:
            check_response(spec)
        self.responses = responses or [{}]
        self.clock = Clock()
        self.records: list[RequestRecord] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sock: socket.socket | None = None

    def listen(self) -> socket.socket:
        """The listening socket, opened in the caller's thread: its port is known at once, and
        a client that connects before start() has run waits in the kernel's backlog."""
        # IPPROTO_TCP, not 0: asyncio turns Nagle off only on accepted sockets whose protocol
        # says TCP, and with Nagle on a reply written in parts waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._sock = sock
        return sock

    async def start(self, sock: socket.socket) -> None:
        self.clock = Clock()
        try:
            self._server = await asyncio.start_server(self._serve, sock=sock)
        except BaseException:
            sock.close()
            raise

    def _new_record(self, conn: int, peer: tuple[str, int] | None, head: RequestHead, t: float) -> RequestRecord:
        framing, length = request_framing(head)
        rec = RequestRecord(len(self.records), conn, t, head, framing, length, peer=peer)
        self.records.append(rec)
        return rec

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        conn = self.connections
        self.connections += 1
        peername = writer.get_extra_info("peername")
        peer = (str(peername[0]), int(peername[1])) if isinstance(peername, tuple) else None
        queue: asyncio.Queue[RequestRecord | None] = asyncio.Queue()
        responder = asyncio.create_task(self._respond_all(queue, writer))
        self._tasks.add(responder)
        try:
            requests = RequestReader(reader, self.clock, lambda h, t: self._new_record(conn, peer, h, t))
            await requests.run(queue.put_nowait)
            queue.put_nowait(None)
            await responder  # a half-closed client still gets its answer
        except asyncio.CancelledError:
            # The origin is closing. Ending normally matters on 3.11: its streams callback
            # logs a traceback for a connection task that ends cancelled.
            pass
        finally:
            responder.cancel()
            writer.close()
            self._writers.discard(writer)
            self._tasks.discard(task)
            self._tasks.discard(responder)

    async def _respond_all(
        self, queue: asyncio.Queue[RequestRecord | None], writer: asyncio.StreamWriter
    ) -> None:
        out = Output(writer)
        while (rec := await queue.get()) is not None:
            spec = self.responses[min(rec.index, len(self.responses) - 1)]
            if not await write_response(spec, rec, out) or not out.ok:
                break
        writer.close()  # ends the reader too: the transport's EOF wakes it

    def snapshot(self) -> Json:
        return {"connections": self.connections, "requests": [r.to_json() for r in self.records]}

    def abandon(self) -> Json:
        """The snapshot, and the listening socket closed from outside the loop: for an origin
        whose loop no longer runs."""
        if self._sock is not None:
            self._sock.close()
        return self.snapshot()

    def stop(self) -> list[asyncio.Task[None]]:
        """Stop listening, drop every connection, cancel their tasks (which end on the
        loop's next turn): the tasks."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # no lingering: the scenario is over
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    async def close(self) -> None:
        tasks = self.stop()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


_STALLED_S = 10.0  # a listener's start that has not run by then never will


class OriginHandle:
    """The caller's (synchronous) view of one origin. `call` runs a coroutine on the loop
    that serves it (the wire thread's, a target's running loop, or an idle loop of the
    caller's) and returns its result."""

    def __init__(self, wire: Wire, server: OriginServer, started: Started,
                 call: Callable[[Coroutine[Any, Any, Any]], Any], idle_loop: bool = False) -> None:
        self._wire = wire
        self._server = server
        self._started = started  # start() on the serving loop, maybe not yet run (see OriginServer.listen)
        self._call = call
        self._idle_loop = idle_loop  # served by an idle loop of the caller's (a target's origin_loop)
        self.port = server.port
        self._closed = False

    def recording(self) -> WireRecord:
        """What reached the origin so far, JSON-ready (SCENARIO.md "What the origin records")."""
        return cast(WireRecord, self._call(_snapshot(self._server)))

    def finish(self) -> WireRecord:
        """recording(), then close(), in one trip to the wire loop (a scenario's end)."""
        if self._closed:
            return self.recording()
        self._closed = True
        self._wire.forget(self)
        try:
            self._started.result(_STALLED_S)  # a listener that failed to start says so here
            if self._idle_loop:
                # The connections are dropped and their tasks cancelled from here, not on the
                # loop: what that sets off runs on the loop's next run, the next scenario's
                # wait, while the runtime reads that scenario (serving.drain() ends what is
                # left before the loop closes). Measured: _snapshot_and_close's docstring.
                record = self._call(_snapshot(self._server))
                self._server.stop()
                return cast(WireRecord, record)
            return cast(WireRecord, self._call(_snapshot_and_close(self._server)))
        except TimeoutError:
            # The loop serving it no longer runs (a target loop the watchdog abandoned): what
            # it recorded until then; the listener is closed from here.
            return cast(WireRecord, self._server.abandon())

    def close(self) -> None:
        """Close the listener and every connection it accepted. Idempotent."""
        if not self._closed:
            self._closed = True
            self._wire.forget(self)
            self._started.result(_STALLED_S)
            self._call(self._server.close())

    def __enter__(self) -> OriginHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _snapshot(server: OriginServer) -> Json:
    # Let reads that are already in the kernel be processed before the snapshot is taken.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return server.snapshot()


async def _snapshot_and_close(server: OriginServer) -> Json:
    """The snapshot, then close(), waiting for the connections' tasks: for an origin on a
    running loop. On an idle loop finish() leaves them to the loop's next run: bun client
    examples alternated with this, 1000 each: medians 0.98-1.18 ms instead of 1.13-1.29 ms
    (with start() left to the loop's next turn too, Wire.origin)."""
    record = await _snapshot(server)
    await server.close()
    return record


class Started(Protocol):
    """An origin's start(): result() waits for it (at most `timeout` s) and raises its error."""

    def result(self, timeout: float | None = None) -> None: ...


class StartOnIdleLoop:
    """start() scheduled on an idle loop of the caller's: its next turn runs it; result()
    runs the loop until it has (a scenario that never waited on the loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, start: Coroutine[Any, Any, None]) -> None:
        self._loop = loop
        self._task = loop.create_task(start)

    def result(self, timeout: float | None = None) -> None:
        # No timeout needed: the loop is the caller's own, idle, so running it cannot stall.
        if not self._task.done():
            self._loop.run_until_complete(self._task)
        self._task.result()
