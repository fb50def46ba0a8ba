"""The ASGI adapter: ASGI scope/receive -> fetch Request, fetch Response -> ASGI messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from ref_node_server import run

from harness.reference.asgi import UvicornThread, asgi_app
from harness.reference.fetch import Request, Response


def http_scope(
    method: str = "GET",
    raw_path: bytes = b"/",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path.decode(),
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers if headers is not None else [(b"host", b"example.test:8080")],
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
    }


class Channel:
    """Scripted ``receive`` messages and a record of ``send``."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.incoming = list(messages)
        self.sent: list[dict[str, Any]] = []
        self.forever = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if self.incoming:
            item = self.incoming.pop(0)
            if "sleep" in item:
                await asyncio.sleep(item["sleep"])
                return await self.receive()
            return item
        await self.forever.wait()  # like a client that stays connected
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def test_request_conversion_and_streamed_response() -> None:
    seen: dict[str, Any] = {}

    async def body() -> AsyncIterator[bytes]:
        yield b"one"
        await asyncio.sleep(0.01)
        yield b"two"

    async def handler(request: Request) -> Response:
        seen["url"], seen["method"] = request.url, request.method
        seen["headers"] = request.headers.raw_items()
        seen["body"] = await request.read()
        return Response(
            body(), status=201, headers=[("X-A", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
        )

    async def main() -> Channel:
        channel = Channel(
            [
                {"type": "http.request", "body": b"ab", "more_body": True},
                {"type": "http.request", "body": b"cd", "more_body": False},
            ]
        )
        headers = [
            (b"host", b"example.test:8080"),
            (b"x-dup", b"1"),
            (b"x-dup", b"2"),
            (b"x-latin", "caf\xe9".encode("latin-1")),
            (b"content-length", b"4"),
        ]
        scope = http_scope("POST", b"/a%20b", b"x=1&y=%7E", headers)
        await asgi_app(handler)(scope, channel.receive, channel.send)
        return channel

    channel = run(main())
    assert seen["url"] == "http://example.test:8080/a%20b?x=1&y=%7E"
    assert seen["method"] == "POST" and seen["body"] == b"abcd"
    assert seen["headers"][1:4] == [("x-dup", "1"), ("x-dup", "2"), ("x-latin", "caf\xe9")]
    start, *bodies = channel.sent
    assert start == {
        "type": "http.response.start",
        "status": 201,
        "headers": [(b"x-a", b"1"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")],
    }
    assert [(m["body"], m["more_body"]) for m in bodies] == [
        (b"one", True),
        (b"two", True),
        (b"", False),
    ]


def test_bodyless_requests_and_plain_bodies() -> None:
    seen: list[Any] = []

    async def handler(request: Request) -> Response:
        seen.append(request.body)
        if request.method == "HEAD":
            return Response(None, status=204)
        return Response(b"whole")

    async def main() -> list[Channel]:
        channels = []
        for method, headers in (("GET", None), ("HEAD", None), ("POST", [(b"host", b"h")])):
            channel = Channel([{"type": "http.request", "body": b"ignored", "more_body": False}])
            await asgi_app(handler)(
                http_scope(method, headers=headers), channel.receive, channel.send
            )
            channels.append(channel)
        return channels

    get, head, post = run(main())
    # GET/HEAD and a POST with neither Content-Length nor Transfer-Encoding carry no body.
    assert seen == [None, None, None]
    assert [(m.get("body"), m.get("more_body")) for m in get.sent[1:]] == [(b"whole", False)]
    assert head.sent[0]["status"] == 204
    assert [(m.get("body"), m.get("more_body")) for m in head.sent[1:]] == [(b"", False)]


def test_lifespan_is_acknowledged_and_websocket_refused() -> None:
    async def handler(request: Request) -> Response:
        return Response(b"")

    async def main() -> Channel:
        channel = Channel([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        await asgi_app(handler)({"type": "lifespan"}, channel.receive, channel.send)
        with pytest.raises(RuntimeError, match="websocket"):
            await asgi_app(handler)({"type": "websocket"}, channel.receive, channel.send)
        return channel

    channel = run(main())
    assert channel.sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


def test_client_disconnect_mid_stream_closes_the_body() -> None:
    state: dict[str, Any] = {"yielded": 0, "closed": False}

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                state["yielded"] += 1
                yield b"x"
                await asyncio.sleep(0.01)
        finally:
            state["closed"] = True

    async def handler(request: Request) -> Response:
        return Response(endless())

    async def main() -> None:
        channel = Channel([{"sleep": 0.05}, {"type": "http.disconnect"}])
        await asyncio.wait_for(asgi_app(handler)(http_scope(), channel.receive, channel.send), 2)

    run(main())
    assert state["closed"] and 2 <= state["yielded"] < 50


def test_request_body_cut_short_raises_for_the_reader() -> None:
    errors: list[BaseException] = []

    async def handler(request: Request) -> Response:
        try:
            await request.read()
        except ConnectionResetError as exc:
            errors.append(exc)
        return Response(b"")

    async def main() -> None:
        channel = Channel(
            [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.disconnect"}]
        )
        scope = http_scope("PUT", headers=[(b"host", b"h"), (b"transfer-encoding", b"chunked")])
        await asgi_app(handler)(scope, channel.receive, channel.send)

    run(main())
    assert len(errors) == 1


def test_handler_exception_propagates_to_the_asgi_server() -> None:
    async def handler(request: Request) -> Response:
        raise LookupError("no route")

    async def main() -> None:
        channel = Channel([])
        with pytest.raises(LookupError):
            await asgi_app(handler)(http_scope(), channel.receive, channel.send)

    run(main())


def test_demo_app_behind_uvicorn() -> None:
    from harness.reference import demo

    with UvicornThread(demo.app) as srv, httpx.Client() as client:
        response = client.get(srv.url + "/hi?x=1")
        assert response.status_code == 200
        assert response.text == "Hello from node:http on fetch: GET /hi?x=1\n"
        assert response.headers["content-length"] == str(len(response.content))
        assert demo.server.address() == {
            "address": "127.0.0.1",
            "family": "IPv4",
            "port": demo.PORT_KEY,
        }
