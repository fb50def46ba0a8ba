"""Node behaviours a fetch-backed node:http can match (each checked against Node 24.21).

Client: end() callbacks before 'finish'; the order of the two 'close' events follows
Node's shouldKeepAlive; heads Node's parser refuses (a control character in a value, a
head over maxHeaderSize) fail as in Node. Server: Connection / Keep-Alive response
headers; Expect handling (417, 'checkExpectation', 'checkContinue'); a request read to
the end closes at once, and a client leaving after that is no error; end() callbacks
before 'finish'. Module: the bridge names on `http`, a side-effect-free `demo`.
"""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from typing import Any

import pytest
from ref_node_server import listening, port_of, send, settle
from ref_origin import Origin, run, simple

from harness.reference import http
from harness.reference.agent import Agent
from harness.reference.server_response import ServerResponse

# ---- client -------------------------------------------------------------------------


def test_end_callbacks_run_before_finish() -> None:
    async def main() -> list[str]:
        async with Origin(simple()) as o:
            order: list[str] = []
            req = http.request(o.url, {"method": "POST"})
            req.on("finish", lambda: order.append("finish"))
            req.end("data", lambda *e: order.append("end_cb 1"))
            req.end(lambda *e: order.append("end_cb 2"))  # ended, not finished yet
            await req.wait_closed()
            return order

    assert run(main()) == ["end_cb 1", "end_cb 2", "finish"]


async def _close_order(origin: Origin, path: str = "/", **options: Any) -> list[str]:
    order: list[str] = []
    req = http.request(f"{origin.url}{path}", options)

    def on_response(res: Any) -> None:
        res.resume()
        res.on("end", lambda: order.append("res:end"))
        res.on("close", lambda: order.append("res:close"))

    req.on("response", on_response)
    req.on("close", lambda: order.append("req:close"))
    req.end()
    await req.wait_closed()
    await asyncio.sleep(0)
    return order


KEPT = ["res:end", "req:close", "res:close"]
CLOSED = ["res:end", "res:close", "req:close"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, KEPT),  # the global agent keeps connections alive
        ({"agent": False}, CLOSED),  # a fresh non-keepAlive agent, unlimited sockets
        ({"agent": Agent()}, CLOSED),
        ({"agent": Agent({"maxSockets": 5})}, KEPT),  # finite sockets: Node keeps it
        ({"agent": Agent({"keepAlive": True})}, KEPT),
        ({"headers": {"Connection": "close"}}, CLOSED),
        ({"agent": False, "headers": {"Connection": "keep-alive"}}, KEPT),
    ],
)
def test_close_order_follows_should_keep_alive(
    options: dict[str, Any], expected: list[str]
) -> None:
    async def main() -> list[str]:
        async with Origin(simple(body=b"hi")) as o:
            return await _close_order(o, **options)

    assert run(main()) == expected


def test_response_connection_close_closes_first() -> None:
    async def main() -> list[str]:
        async with Origin(simple(body=b"hi", keep_alive=False)) as o:
            return await _close_order(o)

    assert run(main()) == CLOSED


async def _request_error(origin: Origin, **options: Any) -> tuple[list[str], Any]:
    events: list[str] = []
    seen: dict[str, Any] = {}
    req = http.request(origin.url, options)
    for name in ("socket", "finish", "close"):
        req.on(name, lambda *a, n=name: events.append(n))
    req.on("response", lambda res: (events.append("response"), res.resume()))
    req.on("error", lambda err: (events.append("error"), seen.setdefault("error", err)))
    req.end()
    await req.wait_closed()
    return events, seen.get("error")


def test_header_overflow_is_node_parse_error() -> None:
    # Node counts the reason phrase and each header name and value: the error comes when
    # the sum reaches maxHeaderSize (16384): here 2 + 5 + n + 14 + 1.
    async def main() -> list[Any]:
        out = []
        for size, options in ((16361, {}), (16362, {}), (20000, {"maxHeaderSize": 32768})):
            async with Origin(simple(headers=[("X-Big", "a" * size)])) as o:
                out.append(await _request_error(o, **options))
        return out

    fits, over, raised = run(main())
    assert fits == (["socket", "finish", "response", "close"], None)
    events, err = over
    assert events == ["socket", "finish", "error", "close"]
    assert (err.name, err.code, err.message) == (
        "Error",
        "HPE_HEADER_OVERFLOW",
        "Parse Error: Header overflow",
    )
    assert raised[1] is None


@pytest.mark.parametrize("char", ["\x01", "\x08", "\x1f", "\x7f"])
def test_control_character_in_a_value_is_node_parse_error(char: str) -> None:
    async def main() -> list[Any]:
        out = []
        for options in ({}, {"insecureHTTPParser": True}):
            async with Origin(simple(headers=[("X-Bad", f"a{char}b")])) as o:
                out.append(await _request_error(o, **options))
        return out

    (events, err), (lenient_events, lenient_err) = run(main())
    assert "response" not in events and events[-2:] == ["error", "close"]
    assert (err.code, err.message) == (
        "HPE_INVALID_HEADER_TOKEN",
        "Parse Error: Invalid header value char",
    )
    assert lenient_err is None and "response" in lenient_events  # Node's lenient parser


def test_tab_and_latin1_in_a_value_are_fine() -> None:
    async def main() -> tuple[list[str], Any]:
        async with Origin(simple(headers=[("X-Ok", "a\tb caf\xe9")])) as o:
            return await _request_error(o)

    events, err = run(main())
    assert err is None and "response" in events


# ---- server -------------------------------------------------------------------------


def _head(response: Any) -> list[tuple[str, str]]:
    return [(n, v) for n, v in response.headers.raw_items() if n != "date"]


def test_connection_and_keep_alive_headers() -> None:
    async def main() -> None:
        def handler(req: Any, res: ServerResponse) -> None:
            if req.url == "/set":
                res.set_header("Connection", "Upgrade")
            elif req.url == "/removed":
                res.set_header("Connection", "x")
                res.remove_header("connection")
            elif req.url == "/own-keep-alive":
                res.set_header("Keep-Alive", "timeout=9")
            res.end("ok")

        with listening(handler) as server:
            response, _ = await send(server)
            assert _head(response) == [
                ("connection", "keep-alive"),
                ("keep-alive", "timeout=5"),
                ("content-length", "2"),
            ]
            response, _ = await send(server, headers={"Connection": "close"})
            assert _head(response) == [("connection", "close"), ("content-length", "2")]
            response, _ = await send(server, "/set")
            assert _head(response)[0] == ("connection", "Upgrade")
            assert not response.headers.has("keep-alive")
            response, _ = await send(server, "/removed")
            assert not response.headers.has("connection")
            response, _ = await send(server, "/own-keep-alive")
            assert response.headers.get("keep-alive") == "timeout=9"
            assert response.headers.get("connection") == "keep-alive"
            server.keep_alive_timeout = 0
            response, _ = await send(server)
            assert response.headers.get("connection") == "keep-alive"
            assert not response.headers.has("keep-alive")
            server.keep_alive_timeout = 65500
            server.max_requests_per_socket = 3
            response, _ = await send(server)
            assert response.headers.get("keep-alive") == "timeout=65, max=3"

    run(main())


def test_expect_other_than_continue_gets_417() -> None:
    async def main() -> None:
        called: list[str] = []

        def handler(req: Any, res: ServerResponse) -> None:
            called.append(req.url)
            res.end("handled")

        with listening(handler) as server:
            response, body = await send(server, headers={"Expect": "x-thing"})
            assert (response.status, response.status_text, body) == (
                417,
                "Expectation Failed",
                b"",
            )
            assert called == []
            # 100-continue goes to 'request' (the front end sends the interim 100).
            response, body = await send(
                server, "/c", method="POST", headers={"Expect": "100-continue"}, body=b"x"
            )
            assert (response.status, body, called) == (200, b"handled", ["/c"])
            assert response.headers.get("connection") == "keep-alive"

    run(main())


def test_check_expectation_and_check_continue_listeners() -> None:
    async def main() -> None:
        seen: list[str] = []

        def request(req: Any, res: ServerResponse) -> None:
            seen.append("request")
            res.end()

        async def check_expectation(req: Any, res: ServerResponse) -> None:
            seen.append("checkExpectation " + req.headers["expect"])
            res.write_head(402)
            res.end("pay")

        def check_continue(req: Any, res: ServerResponse) -> None:
            seen.append("checkContinue")
            res.end("no body needed")

        with listening(request) as server:
            server.on("checkExpectation", check_expectation)
            server.on("checkContinue", check_continue)
            response, body = await send(server, headers={"Expect": "x-y"})
            assert (response.status, body) == (402, b"pay")
            response, body = await send(
                server, method="PUT", headers={"Expect": "100-Continue"}, body=b"x"
            )
            assert (response.status, body) == (200, b"no body needed")
            # No 100 Continue went out before the final status: Node closes.
            assert response.headers.get("connection") == "close"
        assert seen == ["checkExpectation x-y", "checkContinue"]

    run(main())


def test_client_leaving_after_the_body_ended_is_no_error() -> None:
    # Node 24: req 'end', req 'close' at once; the disconnect then only closes res.
    async def main() -> list[Any]:
        order: list[Any] = []

        async def handler(req: Any, res: ServerResponse) -> None:
            req.on("data", lambda chunk: None)
            for name in ("end", "aborted", "close"):
                req.on(name, lambda *a, n=name: order.append(f"req {n}"))
            req.on("error", lambda err: order.append(("req error", err.code)))
            res.on("close", lambda: order.append(("res close", res.writable_ended)))
            res.write("first")
            await asyncio.sleep(0.05)
            res.end("late")

        with listening(handler) as server:
            from harness.reference.bridge import handle_as_node_request
            from harness.reference.fetch import Request

            request = Request("http://h/", method="POST", body=b"abc")
            response = await handle_as_node_request(port_of(server), request)
            assert response.body is not None
            assert await response.body.__anext__() == b"first"
            await settle()
            await response.cancel()  # the consumer goes away before end()
            await asyncio.sleep(0.08)
        return order

    assert run(main()) == ["req end", "req close", ("res close", False)]


def test_server_end_callbacks_run_before_finish() -> None:
    async def main() -> list[str]:
        order: list[str] = []

        def handler(req: Any, res: ServerResponse) -> None:
            res.on("finish", lambda: order.append("finish"))
            res.write("a", lambda *e: order.append("write_cb"))
            res.end("b", lambda *e: order.append("end_cb 1"))
            res.end(lambda *e: order.append("end_cb 2"))

        with listening(handler) as server:
            await send(server)
            await settle()
        return order

    assert run(main()) == ["write_cb", "end_cb 1", "end_cb 2", "finish"]


# ---- module -------------------------------------------------------------------------


def test_http_exports_the_bridge() -> None:
    from harness.reference import bridge

    assert http.http_server_handler is bridge.http_server_handler
    assert http.handle_as_node_request is bridge.handle_as_node_request
    assert {"http_server_handler", "handle_as_node_request", "create_server"} <= set(dir(http))
    with pytest.raises(AttributeError):
        http.no_such_name  # noqa: B018


def test_importing_demo_has_no_side_effect() -> None:
    # A fresh interpreter: importing demo claims no port key until `app` is asked for.
    code = (
        "import harness.reference.demo as d\n"
        "from harness.reference.port_table import PORTS\n"
        "assert PORTS.lookup(8080) is None\n"
        "app = d.app\n"
        "assert PORTS.lookup(8080) is d.server and callable(app) and d.app is app\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert importlib.import_module("harness.reference.demo").PORT_KEY == 8080


def test_refused_connection_fails_the_waiting_callbacks_after_close() -> None:
    async def main() -> list[Any]:
        async with Origin(simple()) as o:
            port = o.port
        events: list[Any] = []  # the origin is gone: nothing listens on its port
        req = http.request({"host": "127.0.0.1", "port": port, "method": "POST"})
        for name in ("socket", "finish", "close"):
            req.on(name, lambda *a, n=name: events.append(n))
        req.on("error", lambda err: events.append(("error", err.code)))
        req.write("a", lambda err=None: events.append(("write_cb", err and err.code)))
        req.end(lambda err=None: events.append(("end_cb", err and err.code)))
        await req.wait_closed()
        await settle()
        return events

    assert run(main()) == [
        "socket",
        ("error", "ECONNREFUSED"),
        "close",
        ("write_cb", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION"),
        ("end_cb", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION"),
    ]
