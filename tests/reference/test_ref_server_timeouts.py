"""Socket timeouts on the reference's server, and what a destroyed connection looks like
through the bridge and the ASGI adapter (Node's socketOnTimeout, net.Socket.setTimeout)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from ref_node_server import chunks, listening, port_of, run, send
from test_ref_asgi import Channel, http_scope

from harness.reference.asgi import UvicornThread, asgi_app
from harness.reference.bridge import handle_as_node_request, http_server_handler
from harness.reference.fetch import Request
from harness.reference.server import ServerIncomingMessage, ServerResponse
from harness.reference.server_errors import ConnectionDropped


def recorder(events: list[str], req: ServerIncomingMessage, res: ServerResponse) -> None:
    for name in ("aborted", "end", "close"):
        req.on(name, lambda *_a, _n=name: events.append(f"req:{_n}"))
    req.on("error", lambda *_a: events.append("req:error"))
    for name in ("finish", "close"):
        res.on(name, lambda *_a, _n=name: events.append(f"res:{_n}"))


def test_timeout_without_listeners_drops_the_connection_before_the_head() -> None:
    events: list[str] = []

    def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
        recorder(events, req, res)
        req.set_timeout(30)
        req.resume()  # the body stalls: the idle timer runs out

    async def stalled() -> Any:
        yield b"a"
        await asyncio.sleep(5)

    async def main() -> None:
        with listening(handler) as server:
            with pytest.raises(ConnectionDropped):
                await asyncio.wait_for(send(server, method="POST", body=stalled()), 2)
            await asyncio.sleep(0.01)

    run(main())
    assert events[:2] == ["req:aborted", "res:close"]
    assert "res:finish" not in events and "req:end" not in events


def test_body_bytes_keep_the_idle_timer_from_running_out() -> None:
    seen: dict[str, Any] = {"timeouts": 0}

    def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
        req.set_timeout(60)
        req.on("end", lambda: res.end("done"))
        req.resume()

    async def main() -> None:
        with listening(handler) as server:
            body = chunks(b"a", b"b", b"c", b"d", b"e", delay=0.03)  # 150 ms in all
            response, data = await send(server, method="POST", body=body)
            seen["status"], seen["data"] = response.status, data

    run(main())
    assert seen["status"] == 200 and seen["data"] == b"done"


def test_a_timeout_listener_keeps_the_connection() -> None:
    fired: list[str] = []

    def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
        def on_timeout(*_a: Any) -> None:
            fired.append("res")
            res.end("late")

        res.set_timeout(20, on_timeout)
        assert req.socket.timeout == 20

    async def main() -> tuple[int, bytes]:
        with listening(handler) as server:
            response, data = await send(server)
            return response.status, data

    assert run(main()) == (200, b"late")
    assert fired == ["res"]


def test_server_timeout_cuts_a_streamed_body_and_its_listener_spares_it() -> None:
    events: list[str] = []

    def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
        recorder(events, req, res)
        res.write("partial")

    async def main(listen_too: bool) -> bytes | None:
        with listening(handler) as server:
            server.timeout = 40
            if listen_too:
                server.on("timeout", lambda sock: sock.destroy())  # Node's own advice
            response = await handle_as_node_request(port_of(server), Request("http://h/"))
            assert response.status == 200
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(response.read(), 2)
            return None

    run(main(listen_too=False))
    assert "res:close" in events and "res:finish" not in events
    events.clear()
    run(main(listen_too=True))  # the listener destroys it itself: the same cut
    assert "res:close" in events and "res:finish" not in events


def test_zero_turns_the_timer_off() -> None:
    def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
        req.set_timeout(20)
        req.set_timeout(0)
        asyncio.get_running_loop().call_later(0.06, res.end, "ok")

    async def main() -> bytes:
        with listening(handler) as server:
            return (await send(server))[1]

    assert run(main()) == b"ok"


def test_asgi_client_leaving_an_idle_handler_aborts_it() -> None:
    events: list[str] = []

    def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
        recorder(events, req, res)  # and never answers

    async def main() -> list[dict[str, Any]]:
        with listening(handler) as server:
            channel = Channel(
                [{"type": "http.request", "body": b"", "more_body": False},
                 {"sleep": 0.05}, {"type": "http.disconnect"}]
            )
            app = asgi_app(http_server_handler(port_of(server)))
            await asyncio.wait_for(app(http_scope(), channel.receive, channel.send), 2)
            await asyncio.sleep(0.01)
            return channel.sent

    assert run(main()) == []
    assert "res:close" in events and "res:finish" not in events


def test_asgi_drops_the_connection_unanswered_behind_uvicorn() -> None:
    async def never(request: Request) -> Any:
        raise ConnectionDropped()

    with UvicornThread(asgi_app(never)) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            try:
                received = conn.recv(100)
            except ConnectionResetError:
                received = b""
    assert received == b""
