"""The API-level parts of node:http that a fetch-backed implementation can match exactly:
properties, validation, cork levels, stream odds and ends (no wire involved where none is
needed; the server side goes through the bridge)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ref_node_server import listening, run, send, settle

from harness.reference import http
from harness.reference.errors import UNDEFINED, NodeError
from harness.reference.server import Server, ServerIncomingMessage, ServerResponse, create_server


def code_of(fn: Any, *args: Any) -> str | None:
    with pytest.raises(NodeError) as info:
        fn(*args)
    return info.value.code


# ---- module and server options ----------------------------------------------------------


def test_set_max_idle_http_parsers_validates() -> None:
    for bad in ("1", True, None, {}, []):
        assert code_of(http.set_max_idle_http_parsers, bad) == "ERR_INVALID_ARG_TYPE"
    for bad in (0, -1, 1.5, float("nan"), float("-inf")):
        assert code_of(http.set_max_idle_http_parsers, bad) == "ERR_OUT_OF_RANGE"
    assert http.set_max_idle_http_parsers(1000) is None


@pytest.mark.parametrize("option", ["insecureHTTPParser", "headersTimeout", "requestTimeout",
                                    "keepAliveTimeout", "maxHeaderSize", "highWaterMark",
                                    "connectionsCheckingInterval", "optimizeEmptyRequests"])
def test_server_option_types_are_checked(option: str) -> None:
    for bad in ("yes", []):
        with pytest.raises(NodeError) as info:
            create_server({option: bad})
        assert (info.value.code, info.value.name) == ("ERR_INVALID_ARG_TYPE", "TypeError")
        assert option in info.value.message


def test_server_timeouts_and_buffer() -> None:
    assert create_server({"requestTimeout": 0}).headers_timeout == 0
    assert create_server({"requestTimeout": 90000}).headers_timeout == 60000
    assert create_server({"requestTimeout": 500, "headersTimeout": 400}).headers_timeout == 400
    server = Server()
    assert server.keep_alive_timeout_buffer == 1000


def test_async_dispose_resolves_after_close() -> None:
    async def main() -> list[str]:
        order: list[str] = []
        server = create_server()
        server.listen(0)
        await settle()
        server.on("close", lambda *_: order.append("close"))
        await server.async_dispose()
        order.append("disposed")
        return order

    assert run(main()) == ["close", "disposed"]


# ---- the client request ------------------------------------------------------------------


def test_host_header_array_throws() -> None:
    async def main() -> None:
        for name in ("host", "Host", "HOST"):
            with pytest.raises(NodeError) as info:
                http.request({"host": "127.0.0.1", "port": 9, "headers": {name: ["a", "b"]}})
            assert (info.value.code, info.value.name) == ("ERR_INVALID_ARG_TYPE", "TypeError")

    run(main())


def test_cork_levels_pipe_and_abort_before_socket() -> None:
    async def main() -> None:
        events: list[str] = []
        req = http.request({"host": "127.0.0.1", "port": 9, "method": "POST"})
        for name in ("socket", "error", "close", "abort"):
            req.on(name, lambda *_a, _n=name: events.append(_n))
        req.cork()
        req.cork()
        assert req.writable_corked == 2
        req.uncork()
        assert req.writable_corked == 1
        req.pipe()
        assert events == ["error"]  # emitted at once, never thrown
        req.abort()
        await settle()
        # Before a socket: 'close' then 'abort', and no socket hang-up.
        assert events == ["error", "close", "abort"]
        assert req.destroyed and req.aborted and req.writable is True

    run(main())


# ---- the server response -----------------------------------------------------------------


def test_response_state_and_events() -> None:
    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
            seen["hwm"] = (req.readable_high_water_mark, res.writable_high_water_mark,
                           req.socket.writable_high_water_mark)
            seen["bytes0"] = req.socket.bytes_written
            with pytest.raises(NodeError) as info:
                req.socket.set_encoding("utf8")
            seen["encoding"] = info.value.code
            events: list[str] = []
            res.on("prefinish", lambda: events.append("prefinish"))
            res.on("finish", lambda: events.append("finish"))
            seen["events"] = events
            res.cork()
            res.end(b"body")
            seen["after_end"] = (res.writable_corked, res.writable, res.writable_object_mode)
            seen["bytes1"] = req.socket.bytes_written

        with listening(handler, {"highWaterMark": 4096}) as server:
            _, body = await send(server)
            await settle()
        assert body == b"body"
        return seen

    seen = run(main())
    assert seen["hwm"] == (4096, 4096, 4096)
    assert seen["encoding"] == "ERR_HTTP_SOCKET_ENCODING"
    assert seen["events"] == ["prefinish", "finish"]
    assert seen["after_end"] == (0, True, False)
    assert seen["bytes0"] == 0 and seen["bytes1"] > len(b"body")


def test_trailer_needs_chunked_framing_and_chunk_framing_counts() -> None:
    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
            res.set_header("Trailer", "X-T")
            seen["code"] = code_of(res.write_head, 200, {"Content-Length": "2"})
            res.remove_header("Trailer")
            res.end(b"ok")

        def chunked(req: ServerIncomingMessage, res: ServerResponse) -> None:
            res.write("")
            before = res.writable_length
            res.write(b"x" * 20)
            seen["framing"] = res.writable_length - before
            res.end()

        with listening(handler) as server:
            response, body = await send(server)
            assert (response.status, body) == (200, b"ok")
            assert response.headers.get("trailer") is None
        with listening(chunked) as server:
            await send(server)
        return seen

    seen = run(main())
    assert seen["code"] == "ERR_HTTP_TRAILER_INVALID"
    assert seen["framing"] == 20 + 2 + 4  # "14\r\n" + data + "\r\n"


def test_destroy_sets_errored_without_an_error_event() -> None:
    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
            res.on("error", lambda err: seen.setdefault("error", err))
            error = NodeError("gone")
            res.destroy(error)
            seen["errored"] = res.errored is error

        def bare(req: ServerIncomingMessage, res: ServerResponse) -> None:
            res.destroy()
            seen["bare"] = res.errored

        for fn in (handler, bare):
            with listening(fn) as server:
                await send(server)
                await settle()
        return seen

    seen = run(main())
    assert seen == {"errored": True, "bare": UNDEFINED}


def test_close_all_connections_cuts_open_responses() -> None:
    async def main() -> list[str]:
        events: list[str] = []
        holder: dict[str, Server] = {}

        def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
            res.on("finish", lambda: events.append("finish"))
            res.on("close", lambda: events.append("close"))
            res.write_head(200)
            res.write(b"part")
            asyncio.get_running_loop().call_later(0.05, holder["server"].close_all_connections)

        with listening(handler) as server:
            holder["server"] = server
            with pytest.raises(Exception):  # noqa: B017 - the body breaks off, however fetch says it
                await send(server)
            await settle()
        return events

    assert run(main()) == ["close"]


def test_optimize_empty_requests() -> None:
    async def main() -> list[tuple[bool, bool]]:
        seen: list[tuple[bool, bool]] = []

        def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
            seen.append((req.readable_ended, req.destroyed))
            res.end()

        with listening(handler, {"optimizeEmptyRequests": True}) as server:
            await send(server)
            await send(server, method="POST", headers={"content-length": "0"})
        return seen

    assert run(main()) == [(True, True), (False, False)]
