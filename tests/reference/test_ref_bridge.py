"""The bridge: port-keyed routing from fetch Requests to node:http servers, in-process and
behind a real ASGI server (uvicorn on 127.0.0.1) with a real HTTP client (httpx)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from ref_node_server import listening, port_of, run

from harness.reference.asgi import UvicornThread, asgi_app
from harness.reference.bridge import handle_as_node_request, http_server_handler
from harness.reference.errors import NodeError
from harness.reference.fetch import Request, Response
from harness.reference.port_table import PORTS
from harness.reference.server import ServerResponse, create_server


def hello(req: Any, res: ServerResponse) -> None:
    res.set_header("Content-Type", "text/plain")
    res.end(f"{req.method} {req.url}")


def test_handler_forms_route_to_the_port() -> None:
    async def main() -> None:
        with listening(hello) as server:
            port = port_of(server)
            for handler in (
                http_server_handler(port),
                http_server_handler({"port": port}),
                http_server_handler(server),
            ):
                assert handler.port == port  # type: ignore[attr-defined]
                response = await handler(Request("http://h/a?b=1"))
                assert (response.status, await response.read()) == (200, b"GET /a?b=1")
            response = await handle_as_node_request(port, Request("http://h/x", method="DELETE"))
            assert await response.read() == b"DELETE /x"

    run(main())


def test_handler_for_a_server_not_listening_makes_it_listen() -> None:
    server = create_server(hello)
    handler = http_server_handler(server)
    try:
        assert server.listening and handler.port == port_of(server)  # type: ignore[attr-defined]
        assert PORTS.lookup(handler.port) is server  # type: ignore[attr-defined]
    finally:
        server.close()


def test_unknown_port_and_bad_port_values() -> None:
    async def main() -> None:
        with listening() as server:
            free = port_of(server) + 1000
        err: NodeError
        with pytest.raises(NodeError) as info:
            await handle_as_node_request(free, Request("http://h/"))
        err = info.value
        assert (err.name, err.code, err.port) == ("Error", "ERR_INVALID_ARG_VALUE", free)
        assert f"port {free}" in err.message and f"listen({free})" in err.message
        # The handler can be made before listen(); the lookup happens per request.
        handler = http_server_handler(free)
        with pytest.raises(NodeError, match=f"port {free}"):
            await handler(Request("http://h/"))
        for bad in (-1, 65536, "80", None, True):
            with pytest.raises(NodeError) as info:
                await handle_as_node_request(bad, Request("http://h/"))  # type: ignore[arg-type]
            assert info.value.code == "ERR_INVALID_ARG_VALUE"
        with pytest.raises(NodeError):
            http_server_handler("x")  # type: ignore[arg-type]

    run(main())


def test_two_servers_on_two_ports_in_process() -> None:
    async def main() -> None:
        with (
            listening(lambda req, res: res.end("one")) as one,
            listening(lambda req, res: res.end("two")) as two,
        ):
            assert port_of(one) != port_of(two)
            replies = await asyncio.gather(
                *[
                    handle_as_node_request(port_of(server), Request("http://h/"))
                    for server in (two, one, two)
                ]
            )
            assert [await r.read() for r in replies] == [b"two", b"one", b"two"]

    run(main())


# ---- behind uvicorn -----------------------------------------------------------------------


def test_over_sockets_hello_headers_and_request_body() -> None:
    def handler(req: Any, res: ServerResponse) -> None:
        body: list[bytes] = []
        req.on("data", body.append)

        def done() -> None:
            res.write_head(
                201, {"X-Seen": req.headers.get("x-dup", ""), "Set-Cookie": ["a=1", "b=2"]}
            )
            res.end(b"".join(body))

        req.on("end", done)

    with listening(handler) as server, UvicornThread(asgi_app(http_server_handler(server))) as srv:
        with httpx.Client() as client:
            response = client.post(
                srv.url + "/up?q=1", content=b"payload", headers=[("X-Dup", "1"), ("X-Dup", "2")]
            )
            assert response.status_code == 201
            assert response.headers["x-seen"] == "1, 2"
            assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
            assert response.content == b"payload"
            assert len(response.headers.get_list("date")) == 1


def test_over_sockets_streaming_response_arrives_as_written() -> None:
    written: list[float] = []

    async def handler(req: Any, res: ServerResponse) -> None:
        res.write_head(200, {"Content-Type": "text/plain"})
        for i in range(3):
            if i:
                await asyncio.sleep(0.1)
            written.append(time.monotonic())
            res.write(f"chunk{i};")
        res.end()

    with listening(handler) as server, UvicornThread(asgi_app(http_server_handler(server))) as srv:
        with httpx.Client() as client, client.stream("GET", srv.url + "/stream") as response:
            arrivals: list[tuple[float, bytes]] = []
            for chunk in response.iter_raw():
                arrivals.append((time.monotonic(), chunk))
        assert response.headers.get("transfer-encoding") == "chunked"
        assert b"".join(c for _, c in arrivals) == b"chunk0;chunk1;chunk2;"
        # The first chunk reached the client before the handler wrote the last one.
        assert arrivals[0][0] < written[-1]
        assert written[-1] - written[0] >= 0.19


def test_over_sockets_two_servers_routed_by_port() -> None:
    with (
        listening(lambda req, res: res.end(f"A{req.url}")) as a,
        listening(lambda req, res: res.end(f"B{req.url}")) as b,
        UvicornThread(asgi_app(http_server_handler(port_of(a)))) as srv_a,
        UvicornThread(asgi_app(http_server_handler(port_of(b)))) as srv_b,
    ):
        with httpx.Client() as client:
            assert client.get(srv_a.url + "/1").text == "A/1"
            assert client.get(srv_b.url + "/2").text == "B/2"
            assert client.get(srv_a.url + "/3").text == "A/3"

    # One socket, several port keys: a fetch handler that routes by hand.
    with (
        listening(lambda req, res: res.end("left")) as left,
        listening(lambda req, res: res.end("right")) as right,
    ):
        keys = {"/left": port_of(left), "/right": port_of(right)}

        async def route(request: Request) -> Response:
            path = request.url.split("://", 1)[1].split("/", 1)[1]
            return await handle_as_node_request(keys["/" + path], request)

        with UvicornThread(asgi_app(route)) as srv, httpx.Client() as client:
            assert [client.get(srv.url + p).text for p in ("/right", "/left")] == ["right", "left"]


def test_over_sockets_handler_error_is_500_and_closed_port_is_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(req: Any, res: Any) -> None:
        raise RuntimeError("boom")

    server = create_server(boom)
    server.listen(0)
    port = port_of(server)
    with UvicornThread(asgi_app(http_server_handler(port))) as srv, httpx.Client() as client:
        response = client.get(srv.url + "/")
        assert (response.status_code, response.text) == (500, "Internal Server Error")
        server.close()  # frees the key: the bridge no longer finds a server
        assert PORTS.lookup(port) is None
        assert client.get(srv.url + "/").status_code == 500  # uvicorn's answer to the raise
        again = create_server(hello)
        again.listen(port)  # the same key, a new server: routed again
        try:
            assert client.get(srv.url + "/back").text == "GET /back"
        finally:
            again.close()
    caplog.clear()


def test_over_sockets_client_disconnect_is_a_client_abort() -> None:
    order: list[Any] = []

    async def handler(req: Any, res: ServerResponse) -> None:
        req.on("aborted", lambda: order.append("req aborted"))
        res.on("close", lambda: order.append(("res close", res.writable_ended)))
        res.write("first")
        for _ in range(50):
            await asyncio.sleep(0.02)
            if res.destroyed:
                return
            res.write("more")

    with listening(handler) as server, UvicornThread(asgi_app(http_server_handler(server))) as srv:
        with httpx.Client() as client, client.stream("GET", srv.url + "/") as response:
            next(response.iter_raw())
        # Leaving the with blocks closed the connection mid-body.
        deadline = time.monotonic() + 2
        while not order and time.monotonic() < deadline:
            time.sleep(0.01)
    assert order == ["req aborted", ("res close", False)]
