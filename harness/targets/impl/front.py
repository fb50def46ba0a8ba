"""The impl target's runtime: one thread, one asyncio loop, one uvicorn front end.

The reference must be used from inside a running loop, so the whole session shares one
loop in a background thread. Server scenarios are reached as on workerd (SCENARIO.md,
"workerd bridge routing"): ONE uvicorn server listens on several bridge sockets
("slots"); a request arriving on slot i is the next entry of `requests` whose `server`
is i, and is handed through the reference's bridge (`http_server_handler(port)` or
`handle_as_node_request(port, request)`) to the port key servers[i] holds, or to the
entry's own `port`. The slot is read from the ASGI scope's local address.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn

from harness.observations import Json
from harness.reference import bridge
from harness.reference.asgi import asgi_app
from harness.reference.fetch import Request, Response, aclose_shared_client, shared_client
from harness.reference.server_errors import ConnectionDropped
from harness.targets.impl.recorder import record_uncaught
from harness.targets.impl.server import ServerSession

T = TypeVar("T")
DEFAULT_SLOTS = 8
START_TIMEOUT_S = 10.0


@dataclass
class Routing:
    """The routing state of the server scenario in progress."""

    session: ServerSession
    queues: list[list[Json]]
    arrived: list[int]
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, session: ServerSession) -> Routing:
        specs = session.scenario.get("servers") or []
        queues: list[list[Json]] = [[] for _ in specs]
        for entry in session.scenario.get("requests") or []:
            slot = entry.get("server", 0)
            if isinstance(slot, int) and 0 <= slot < len(queues):
                queues[slot].append(entry)
        return cls(session, queues, [0] * len(specs))

    def route(self, slot: int) -> tuple[Any, str]:
        """(port key, bridge) for the next request arriving on `slot`."""
        specs = self.session.scenario.get("servers") or []
        spec: Json = specs[slot] if slot < len(specs) else {}
        queue = self.queues[slot] if slot < len(self.queues) else []
        k = self.arrived[slot] if slot < len(self.arrived) else 0
        if slot < len(self.arrived):
            self.arrived[slot] += 1
        entry: Json = queue[min(k, len(queue) - 1)] if queue else {}
        mode = entry.get("bridge") or spec.get("bridge") or "httpServerHandler"
        if isinstance(entry.get("port"), int):
            return entry["port"], mode
        server = self.session.servers[slot] if slot < len(self.session.servers) else None
        address = server.address() if server is not None and getattr(server, "listening", False) else None
        return (address["port"] if address else spec.get("listen", 0)), mode


class Front:
    """The loop thread and the uvicorn server; `current` is set during a server scenario."""

    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        self.slots = slots
        self.loop = asyncio.new_event_loop()
        self.current: Routing | None = None
        self.addresses: list[tuple[str, int]] = []
        self._slot_of: dict[int, int] = {}
        self._server: uvicorn.Server | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="impl-target-loop", daemon=True)

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.loop.set_exception_handler(self._on_loop_exception)
        self._thread.start()
        self.call(self._start_uvicorn(), START_TIMEOUT_S)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            # An abandoned loop that unblocks ends here: free its bridge sockets.
            for srv in self._server.servers if self._server is not None else []:
                with contextlib.suppress(Exception):
                    srv.close()

    async def _start_uvicorn(self) -> None:
        socks = []
        for _ in range(self.slots):
            # IPPROTO_TCP given explicitly: asyncio sets TCP_NODELAY on accepted sockets only
            # when their proto says TCP, and with Nagle on, a reply written as head then body
            # waits ~40 ms for the client's delayed ACK (Node's servers are noDelay too).
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        # asgi3: uvicorn cannot tell a bound method's interface. proxy_headers off: an
        # X-Forwarded-* header a scenario sends must reach the server untouched.
        config = uvicorn.Config(self._app, host="127.0.0.1", port=0, lifespan="off",
                                log_level="warning", server_header=False, date_header=False,
                                interface="asgi3", proxy_headers=False,
                                # h11 always: uvicorn would switch to httptools when it is
                                # installed, and the impl column would change with the machine.
                                http="h11", ws="none")
        self._server = uvicorn.Server(config)
        self._serve_task = asyncio.ensure_future(self._server.serve(sockets=socks))
        while not self._server.started:
            if self._serve_task.done():
                self._serve_task.result()  # raises what made uvicorn fail
                raise RuntimeError("uvicorn stopped during start-up")
            await asyncio.sleep(0.005)
        for i, srv in enumerate(self._server.servers):
            port = srv.sockets[0].getsockname()[1]
            self._slot_of[port] = i
            self.addresses.append(("127.0.0.1", port))
        # Made now rather than by the first scenario: it costs ~100 ms (TLS context).
        shared_client()

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.call(self._shutdown(), timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()

    def abandon(self) -> None:
        """The loop is wedged: ask it to stop and forget it (its thread is a daemon)."""
        with contextlib.suppress(Exception):
            self.loop.call_soon_threadsafe(self.loop.stop)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._serve_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._serve_task, 3)
        await aclose_shared_client()

    # ---- calling into the loop ---------------------------------------------------------

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return self.submit(coro).result(timeout)

    def alive(self, timeout: float = 1.0) -> bool:
        """Whether the loop still answers (a wedged loop does not)."""
        if not self._thread.is_alive():
            return False
        try:
            self.call(asyncio.sleep(0), timeout)
        except Exception:  # noqa: BLE001
            return False
        return True

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: Json) -> None:
        exc = context.get("exception")
        # Socket noise of the front end is not the scenario's; reference callbacks are.
        if isinstance(exc, Exception) and not isinstance(exc, OSError):
            if record_uncaught("uncaughtException", exc, loop):
                return
        loop.default_exception_handler(context)

    # ---- the bridge --------------------------------------------------------------------

    async def _app(self, scope: Json, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            return
        server = scope.get("server") or (None, None)
        port = server[1]
        slot = self._slot_of.get(port, 0) if isinstance(port, int) else 0

        async def handler(request: Request) -> Response:
            return await self.dispatch(slot, request)

        await asgi_app(handler)(scope, receive, send)

    async def dispatch(self, slot: int, request: Request) -> Response:
        routing = self.current
        if routing is None:
            return Response(b"impl harness: no server scenario in progress\n", status=503)
        port, mode = routing.route(slot)
        try:
            if mode == "handleAsNodeRequest":
                return await bridge.handle_as_node_request(port, request)
            return await bridge.http_server_handler(port)(request)
        except ConnectionDropped:
            raise  # the server destroyed the connection: asgi_app closes it unanswered
        except Exception as exc:  # noqa: BLE001 - workerd answers 500 when the bridge throws
            # Not a Node behaviour: the front end's answer when the bridge refused.
            note = f"bridge refused a request on slot {slot} for port {port!r}: {type(exc).__name__}: {exc}"
            routing.notes.append(note)
            logging.getLogger("harness.impl").debug(note)
            return Response(f"impl harness: {note}\n".encode(), status=500)
