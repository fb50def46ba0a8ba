"""The reference's node:http server: Server, IncomingMessage and ServerResponse in-process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ref_node_server import chunks, listening, port_of, run, send, settle

from harness.reference.errors import UNDEFINED, NodeError
from harness.reference.fetch import Headers
from harness.reference.port_table import FIRST_DYNAMIC_PORT, PORTS
from harness.reference.server import Server, ServerIncomingMessage, ServerResponse, create_server


@pytest.fixture(autouse=True)
def no_listener_errors(caplog: pytest.LogCaptureFixture) -> Any:
    """An assertion failing inside a handler only shows up as a logged listener error."""
    yield
    assert [r.getMessage() for r in caplog.records if r.name == "harness.reference.server"] == []


def capture(handler_ops: Any = None) -> tuple[dict[str, Any], Any]:
    """A handler that stores req/res, runs ``handler_ops(req, res)`` and ends if it did not."""
    seen: dict[str, Any] = {}

    def handler(req: ServerIncomingMessage, res: ServerResponse) -> None:
        seen["req"], seen["res"] = req, res
        if handler_ops is not None:
            handler_ops(req, res)
        if not res.writable_ended:
            res.end()

    return seen, handler


def error_of(fn: Any, *args: Any) -> NodeError:
    with pytest.raises(NodeError) as info:
        fn(*args)
    return info.value


# ---- create_server / listen / close / address ------------------------------------------


def test_create_server_forms_and_option_checks() -> None:
    def handler(req: Any, res: Any) -> None:
        pass

    assert isinstance(create_server(), Server)
    assert create_server(handler).listeners("request") == [handler]
    assert create_server({"joinDuplicateHeaders": True}, handler).join_duplicate_headers is True
    err = error_of(create_server, 5)
    assert (err.name, err.code) == ("TypeError", "ERR_INVALID_ARG_TYPE")
    err = error_of(create_server, {"joinDuplicateHeaders": "yes"})
    assert err.code == "ERR_INVALID_ARG_TYPE" and "options.joinDuplicateHeaders" in err.message
    server = create_server()
    assert (server.timeout, server.keep_alive_timeout, server.headers_timeout) == (0, 5000, 60000)
    assert (server.request_timeout, server.max_headers_count) == (300000, None)


def test_listen_emits_listening_later_and_picks_dynamic_ports() -> None:
    async def main() -> None:
        events: list[str] = []
        first, second = create_server(), create_server()
        assert first.listen(0, lambda: events.append("callback")) is first
        first.on("listening", lambda: events.append("listening"))
        assert events == [] and first.listening
        await settle()
        assert events == ["callback", "listening"]
        second.listen()
        assert first.address() == {"address": "127.0.0.1", "family": "IPv4", "port": port_of(first)}
        assert FIRST_DYNAMIC_PORT <= port_of(first) < port_of(second)
        first.close()
        second.close()

    run(main())


def test_listen_without_event_loop_is_synchronous() -> None:
    server = create_server()
    seen: list[str] = []
    server.listen(0, lambda: seen.append("listening"))
    assert seen == ["listening"]
    server.close()


def test_listen_on_taken_port_is_eaddrinuse_error_event() -> None:
    async def main() -> None:
        with listening() as holder:
            port = port_of(holder)
            other = create_server()
            errors: list[NodeError] = []
            other.on("error", errors.append)
            assert other.listen(port) is other
            assert errors == []  # asynchronous, as in Node
            await settle()
            (err,) = errors
            assert (err.code, err.syscall, err.port, err.errno) == (
                "EADDRINUSE",
                "listen",
                port,
                -98,
            )
            assert err.message == f"listen EADDRINUSE: address already in use 127.0.0.1:{port}"
            assert not other.listening and other.address() is None
            assert PORTS.lookup(port) is holder

    run(main())


def test_listen_twice_and_bad_ports() -> None:
    with listening() as server:
        err = error_of(server.listen, 0)
        assert err.code == "ERR_SERVER_ALREADY_LISTEN"
    for bad in (-1, 70000, "abc", 1.5, True):
        err = error_of(create_server().listen, bad)
        assert (err.name, err.code) == ("RangeError", "ERR_SOCKET_BAD_PORT")
    # One validatePort for client and server; listen() names the option.
    assert error_of(create_server().listen, 70000).message == (
        "options.port should be >= 0 and < 65536. Received type number (70000)."
    )


def test_close_frees_port_and_emits_close() -> None:
    async def main() -> None:
        server = create_server()
        server.listen(0)
        port = port_of(server)
        events: list[Any] = []
        server.on("close", lambda: events.append("close"))
        assert server.close(lambda *args: events.append(("cb", args))) is server
        assert PORTS.lookup(port) is None and not server.listening and server.address() is None
        await settle()
        assert events == ["close", ("cb", ())]
        again = create_server()
        again.listen(port)  # the key is free again
        assert PORTS.lookup(port) is again
        again.close()
        # close() on a server that is not listening: ERR_SERVER_NOT_RUNNING to the callback.
        got: list[Any] = []
        create_server().close(got.append)
        await settle()
        assert got[0].code == "ERR_SERVER_NOT_RUNNING"

    run(main())


def test_close_waits_for_requests_in_flight() -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def handler(req: Any, res: Any) -> None:
            res.write("a")
            await release.wait()
            res.end("b")

        server = create_server(handler)
        server.listen(0)
        closed: list[str] = []
        server.on("close", lambda: closed.append("close"))
        response, _ = None, None
        task = asyncio.ensure_future(send(server))
        await asyncio.sleep(0.01)
        server.close()
        await asyncio.sleep(0.01)
        assert closed == []
        release.set()
        response, body = await task
        await settle()
        assert body == b"ab" and closed == ["close"]

    run(main())


# ---- IncomingMessage ---------------------------------------------------------------------


def test_incoming_message_fields_and_duplicate_rules() -> None:
    async def main() -> None:
        seen, handler = capture(lambda req, res: seen.setdefault("complete", req.complete))
        with listening(handler) as server:
            headers = Headers()
            for name, value in [
                ("X-Dup", "1"),
                ("X-Dup", "2"),
                ("Content-Type", "text/plain"),
                ("Content-Type", "text/html"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
                ("Cookie", "c=1"),
                ("Cookie", "d=2"),
                ("User-Agent", "a"),
                ("User-Agent", "b"),
            ]:
                headers.append(name, value)
            await send(server, "//double//slash/a%20b?x=1&y=%7E", headers=headers)
            req = seen["req"]
            assert (req.method, req.url, req.http_version) == (
                "GET",
                "//double//slash/a%20b?x=1&y=%7E",
                "1.1",
            )
            assert req.headers == {
                "x-dup": "1, 2",
                "content-type": "text/plain",
                "set-cookie": ["a=1", "b=2"],
                "cookie": "c=1; d=2",
                "user-agent": "a",
            }
            assert req.raw_headers[:4] == ["x-dup", "1", "x-dup", "2"]
            assert req.headers_distinct["content-type"] == ["text/plain", "text/html"]
            assert (req.trailers, req.raw_trailers) == ({}, [])
            await settle()
            assert seen["complete"] is False and req.complete is True
            assert seen["res"].req is req

        seen, handler = capture()
        with listening(handler, {"joinDuplicateHeaders": True}) as server:
            await send(server, headers=[("User-Agent", "a"), ("User-Agent", "b")])
            assert seen["req"].headers["user-agent"] == "a, b"

    run(main())


def test_request_body_streams_through_data_and_end() -> None:
    async def main() -> None:
        got: list[Any] = []

        def handler(req: Any, res: Any) -> None:
            req.on("data", lambda chunk: got.append(chunk))
            req.on("end", lambda: (got.append("end"), res.end(str(req.complete))))

        with listening(handler) as server:
            _, body = await send(
                server,
                method="POST",
                body=chunks(b"ab", b"cd", delay=0.01),
                headers={"transfer-encoding": "chunked"},
            )
            assert got == [b"ab", b"cd", "end"] and body == b"True"

    run(main())


def test_request_body_pause_resume_encoding_and_async_for() -> None:
    async def main() -> None:
        got: list[Any] = []

        async def handler(req: Any, res: Any) -> None:
            req.set_encoding("utf8")
            async for chunk in req:
                got.append(chunk)
            res.end("".join(got))

        with listening(handler) as server:
            euro = "€".encode()
            _, body = await send(server, method="POST", body=chunks(b"a" + euro[:1], euro[1:]))
            assert got == ["a", "€"] and body == "a€".encode()

        paused: list[Any] = []

        async def pausing(req: Any, res: Any) -> None:
            req.on("data", lambda chunk: paused.append(chunk))
            req.pause()
            assert req.is_paused()
            await asyncio.sleep(0.03)
            assert paused == []
            req.resume()
            req.on("end", lambda: res.end(b"".join(paused)))

        with listening(pausing) as server:
            _, body = await send(server, method="PUT", body=chunks(b"x", b"y"))
            assert body == b"xy"

    run(main())


# ---- ServerResponse: status ---------------------------------------------------------------


def test_status_message_defaults_and_custom() -> None:
    async def main() -> None:
        seen, handler = capture(lambda req, res: seen.setdefault("before", res.status_message))
        with listening(handler) as server:
            response, _ = await send(server)
            assert (response.status, response.status_text) == (200, "OK")
            assert seen["before"] is UNDEFINED and seen["res"].status_message == "OK"

        def teapot(req: Any, res: Any) -> None:
            if req.url == "/599":
                res.status_code = 599
            else:
                res.status_message = "Teapot!"
                res.status_code = 418
            res.end()

        with listening(teapot) as server:
            assert (await send(server, "/599"))[0].status_text == "unknown"
            response, _ = await send(server, "/418")
            assert (response.status, response.status_text) == (418, "Teapot!")

    run(main())


def test_invalid_status_codes_and_reason() -> None:
    async def main() -> None:
        seen, handler = capture()
        with listening(handler) as server:
            await send(server)
        res = seen["res"]
        for bad in (99, 1000, "abc"):
            fresh = ServerResponse(seen["req"])
            err = error_of(fresh.write_head, bad)
            assert (err.name, err.code, err.message) == (
                "RangeError",
                "ERR_HTTP_INVALID_STATUS_CODE",
                f"Invalid status code: {bad}",
            )
        fresh = ServerResponse(seen["req"])
        err = error_of(fresh.write_head, 200, "OK\r\nX-Injected: 1")
        assert (err.name, err.code) == ("TypeError", "ERR_INVALID_CHAR")
        assert ServerResponse(seen["req"]).write_head("201").status_code == 201  # JS `'201' | 0`
        err = error_of(res.write_head, 200)
        assert (err.code, err.message) == (
            "ERR_HTTP_HEADERS_SENT",
            "Cannot write headers after they are sent to the client",
        )

    run(main())


def test_final_status_fetch_cannot_carry_gives_500() -> None:
    async def main() -> None:
        with listening(lambda req, res: res.write_head(int(req.url[1:])).end()) as server:
            for status in (101, 600):
                response, body = await send(server, f"/{status}")
                assert response.status == 500 and body == b"Internal Server Error"

    run(main())


# ---- ServerResponse: header API ---------------------------------------------------------------


def test_header_api() -> None:
    async def main() -> None:
        def ops(req: Any, res: ServerResponse) -> None:
            assert res.set_header("X-Num", 5) is res
            assert res.get_header("x-num") == 5
            assert res.get_header("missing") is UNDEFINED
            res.set_header("Set-Cookie", ["a=1", "b=2"])
            assert res.append_header("X-A", "1") is res
            res.append_header("x-a", ["2", "3"])
            assert res.get_header("X-A") == ["1", "2", "3"]
            assert res.has_header("X-NUM") and not res.has_header("nope")
            res.set_header("X-Gone", "1")
            res.remove_header("x-gone")
            assert res.get_header_names() == ["x-num", "set-cookie", "x-a"]
            assert res.get_raw_header_names() == ["X-Num", "Set-Cookie", "X-A"]
            assert res.get_headers() == {
                "x-num": 5,
                "set-cookie": ["a=1", "b=2"],
                "x-a": ["1", "2", "3"],
            }

        seen, handler = capture(ops)
        with listening(handler) as server:
            response, _ = await send(server)
            raw = [(n, v) for n, v in response.headers.raw_items() if n != "date"]
            assert raw == [
                ("x-num", "5"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("x-a", "1"),
                ("x-a", "2"),
                ("x-a", "3"),
                ("connection", "keep-alive"),
                ("keep-alive", "timeout=5"),
                ("content-length", "0"),
            ]

    run(main())


def test_set_headers_from_headers_and_mapping() -> None:
    async def main() -> None:
        def ops(req: Any, res: ServerResponse) -> None:
            fetch_headers = Headers([("X-F", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
            assert res.set_headers(fetch_headers) is res
            res.set_headers({"X-Map": "m"})
            assert res.get_raw_header_names() == ["x-f", "set-cookie", "X-Map"]
            assert res.get_header("set-cookie") == ["a=1", "b=2"]
            err = error_of(res.set_headers, ["X-A", "1"])
            assert err.code == "ERR_INVALID_ARG_TYPE"

        seen, handler = capture(ops)
        with listening(handler) as server:
            response, _ = await send(server)
            assert response.status == 200 and "res" in seen

    run(main())


def test_write_head_merges_and_locks_headers() -> None:
    async def main() -> None:
        def ops(req: Any, res: ServerResponse) -> None:
            res.set_header("X-Set", "original")
            res.set_header("X-Keep", "k")
            assert res.write_head(201, "Made", {"X-Set": "override"}) is res
            assert res.headers_sent
            for fn, args, verb in [
                (res.set_header, ("X-B", "1"), "set"),
                (res.remove_header, ("X-Set",), "remove"),
                (res.append_header, ("X-B", "1"), "append"),
                (res.set_headers, ({"X-B": "1"},), "set"),
            ]:
                err = error_of(fn, *args)
                assert (err.code, err.message) == (
                    "ERR_HTTP_HEADERS_SENT",
                    f"Cannot {verb} headers after they are sent to the client",
                )

        seen, handler = capture(ops)
        with listening(handler) as server:
            response, _ = await send(server)
            assert (response.status, response.status_text) == (201, "Made")
            assert (
                response.headers.get("x-set") == "override"
                and response.headers.get("x-keep") == "k"
            )

        def flat(req: Any, res: ServerResponse) -> None:
            res.write_head(200, ["X-A", "1", "X-A", "2"])

        seen, handler = capture(flat)
        with listening(handler) as server:
            response, _ = await send(server)
            assert [v for n, v in response.headers.raw_items() if n == "x-a"] == ["1", "2"]
            err = error_of(ServerResponse(seen["req"]).write_head, 200, ["X-A"])
            assert (err.name, err.code) == ("TypeError", "ERR_INVALID_ARG_VALUE")

    run(main())


def test_header_name_and_value_validation() -> None:
    async def main() -> None:
        seen, handler = capture()
        with listening(handler) as server:
            await send(server)
        res = ServerResponse(seen["req"])
        err = error_of(res.set_header, "x y", "1")
        assert (err.name, err.code, err.message) == (
            "TypeError",
            "ERR_INVALID_HTTP_TOKEN",
            'Header name must be a valid HTTP token ["x y"]',
        )
        err = error_of(res.set_header, "x-a", "a\r\nb")
        assert (err.code, err.message) == (
            "ERR_INVALID_CHAR",
            'Invalid character in header content ["x-a"]',
        )
        err = error_of(res.set_header, "x-a", UNDEFINED)
        assert (err.code, err.message) == (
            "ERR_HTTP_INVALID_HEADER_VALUE",
            'Invalid value "undefined" for header "x-a"',
        )
        assert error_of(res.append_header, "", "1").code == "ERR_INVALID_HTTP_TOKEN"
        # writeHead's own headers are checked too when no setHeader came first.
        assert error_of(res.write_head, 200, {"bad name": "1"}).code == "ERR_INVALID_HTTP_TOKEN"
        assert (
            error_of(ServerResponse(seen["req"]).write_head, 200, {"x": "\0"}).code
            == "ERR_INVALID_CHAR"
        )

    run(main())


# ---- ServerResponse: body, framing, defaults ----------------------------------------------------


def test_framing_and_date_decisions() -> None:
    async def main() -> None:
        def handler(req: Any, res: ServerResponse) -> None:
            if req.url == "/end-data":
                res.end("abcd")
            elif req.url == "/end-empty":
                res.end()
            elif req.url == "/write-end":
                res.write("ab")
                res.end("cd")
            elif req.url == "/head-then-end":
                res.write_head(200).end()
            elif req.url == "/no-date":
                res.send_date = False
                res.end("x")
            elif req.url == "/remove-date":
                res.remove_header("Date")
                res.end("x")

        with listening(handler) as server:
            cases = {
                "/end-data": ("4", b"abcd"),
                "/end-empty": ("0", b""),
                "/write-end": (None, b"abcd"),
                "/head-then-end": (None, b""),
            }
            for target, (length, body) in cases.items():
                response, got = await send(server, target)
                assert (response.headers.get("content-length"), got) == (length, body), target
                assert response.headers.has("date")
                assert not response.headers.has("transfer-encoding")
            for target in ("/no-date", "/remove-date"):
                response, got = await send(server, target)
                assert not response.headers.has("date") and got == b"x"

    run(main())


def test_no_body_for_head_204_304() -> None:
    async def main() -> None:
        def handler(req: Any, res: ServerResponse) -> None:
            if req.url == "/204":
                res.status_code = 204
            elif req.url == "/304":
                res.write_head(304, {"Content-Length": "55"})
            assert res.write("ignored") is True
            res.end("body")

        with listening(handler) as server:
            response, body = await send(server, method="HEAD")
            assert (
                response.body is None and body == b"" and not response.headers.has("content-length")
            )
            response, body = await send(server, "/204")
            assert (response.status, response.body, body) == (204, None, b"")
            assert not response.headers.has("content-length")
            response, body = await send(server, "/304")
            assert (response.status, body, response.headers.get("content-length")) == (
                304,
                b"",
                "55",
            )

        def strict(req: Any, res: ServerResponse) -> None:
            res.status_code = 204
            err = error_of(res.write, "x")
            assert (err.code, err.name) == ("ERR_HTTP_BODY_NOT_ALLOWED", "Error")
            res.end()

        with listening(strict, {"rejectNonStandardBodyWrites": True}) as server:
            response, _ = await send(server)
            assert response.status == 204

    run(main())


def test_chunk_type_checks() -> None:
    async def main() -> None:
        seen, handler = capture()
        with listening(handler) as server:
            await send(server)
        res = ServerResponse(seen["req"])
        err = error_of(res.write, 5)
        assert (err.name, err.code) == ("TypeError", "ERR_INVALID_ARG_TYPE")
        assert err.message.startswith(
            'The "chunk" argument must be of type string or an instance of Buffer or Uint8Array.'
        )
        assert error_of(res.write, None).code == "ERR_STREAM_NULL_VALUES"
        assert error_of(res.write, "x", "klingon").code == "ERR_UNKNOWN_ENCODING"

    run(main())


def test_write_after_end_is_async_error_and_end_returns_self() -> None:
    async def main() -> None:
        results: dict[str, Any] = {}

        def handler(req: Any, res: ServerResponse) -> None:
            errors: list[NodeError] = []
            callbacks: list[Any] = []
            res.on("error", errors.append)
            assert res.end("done") is res
            results["write"] = res.write("late", callbacks.append)
            results["sync_errors"] = list(errors)
            results["errors"], results["callbacks"] = errors, callbacks
            assert res.end() is res  # a second end() does nothing

        with listening(handler) as server:
            _, body = await send(server)
            await settle()
        assert body == b"done"
        assert results["write"] is False and results["sync_errors"] == []
        (err,) = results["errors"]
        assert (err.code, err.message) == ("ERR_STREAM_WRITE_AFTER_END", "write after end")
        assert results["callbacks"] == [err]

    run(main())


def test_strict_content_length_and_trimming() -> None:
    async def main() -> None:
        def handler(req: Any, res: ServerResponse) -> None:
            res.set_header("Content-Length", "2")
            if req.url == "/strict":
                res.strict_content_length = True
                err = error_of(res.end, "abcdef")
                res.end(err.code[:2])  # finish cleanly with the declared length
            else:
                res.end("abcdef")

        with listening(handler) as server:
            _, body = await send(server, "/strict")
            assert body == b"ER"
            response, body = await send(server, "/loose")
            # A fetch body cannot exceed its Content-Length: cut to it, as workerd does.
            assert (response.headers.get("content-length"), body) == ("2", b"ab")

        seen, handler = capture()
        with listening(handler) as server:
            await send(server)
        res = ServerResponse(seen["req"])
        res.strict_content_length = True
        res.set_header("Content-Length", "2")
        res.write("a")
        err = error_of(res.end)
        assert err.code == "ERR_HTTP_CONTENT_LENGTH_MISMATCH"
        assert err.message == (
            "Response body's content-length of 1 byte(s) does not match the "
            "content-length of 2 byte(s) set in header"
        )

    run(main())


@pytest.mark.parametrize(
    ("method", "args", "name"),
    [
        ("add_trailers", ({"X-T": "1"},), "addTrailers()"),
        ("write_continue", (), "writeContinue()"),
        ("write_processing", (), "writeProcessing()"),
        ("write_early_hints", ({"link": "</a.css>; rel=preload"},), "writeEarlyHints()"),
    ],
)
def test_declared_limitations_raise_method_not_implemented(
    method: str, args: tuple[Any, ...], name: str
) -> None:
    async def main() -> None:
        def handler(req: Any, res: ServerResponse) -> None:
            err = error_of(getattr(res, method), *args)
            assert (err.name, err.code, err.message) == (
                "Error",
                "ERR_METHOD_NOT_IMPLEMENTED",
                f"The {name} method is not implemented",
            )
            res.end("still fine")  # the response is intact after the refusal

        with listening(handler) as server:
            response, body = await send(server)
            assert (response.status, body) == (200, b"still fine")

    run(main())


def test_event_order_request_and_response() -> None:
    async def main() -> None:
        order: list[str] = []

        def handler(req: Any, res: ServerResponse) -> None:
            req.on("data", lambda chunk: order.append("req data"))
            req.on("end", lambda: (order.append("req end"), res.end("ok")))
            req.on("close", lambda: order.append("req close"))
            res.on("finish", lambda: order.append("res finish"))
            res.on("close", lambda: order.append("res close"))

        with listening(handler) as server:
            await send(server, method="POST", body=b"abc")
            await settle(10)
        # Node 24: a request read to the end closes at once, before the response finishes.
        assert order == ["req data", "req end", "req close", "res finish", "res close"]

    run(main())


def test_event_order_unread_body_ends_after_the_response() -> None:
    async def main() -> None:
        order: list[str] = []

        def handler(req: Any, res: ServerResponse) -> None:
            req.on("end", lambda: order.append("req end"))
            req.on("close", lambda: order.append("req close"))
            res.on("finish", lambda: order.append("res finish"))
            res.on("close", lambda: order.append("res close"))
            res.end("ok")

        for method, body in (("POST", b"abc"), ("GET", None)):
            order.clear()
            with listening(handler) as server:
                await send(server, method=method, body=body)
                await settle(10)
            # Node's _dump: the body nobody read is dropped after the response closed.
            assert order == ["res finish", "res close", "req end", "req close"], method

    run(main())


def test_backpressure_and_drain() -> None:
    async def main() -> None:
        seen: dict[str, Any] = {}

        def handler(req: Any, res: ServerResponse) -> None:
            seen["ok"] = res.write(b"x" * (4 * 1024 * 1024))
            seen["length"] = res.writable_length
            res.on("drain", lambda: (seen.setdefault("drained", True), res.end()))

        with listening(handler) as server:
            _, body = await send(server)
        # A chunked body counts its framing too: "400000\r\n" before the data, "\r\n" after.
        assert seen == {"ok": False, "length": 4 * 1024 * 1024 + 10, "drained": True}
        assert len(body) == 4 * 1024 * 1024

    run(main())


def test_async_handler_streams_and_flush_headers() -> None:
    async def main() -> None:
        written: list[bool] = []

        async def handler(req: Any, res: ServerResponse) -> None:
            res.flush_headers()
            await asyncio.sleep(0.02)
            written.append(True)
            res.write("later")
            res.end()

        with listening(handler) as server:
            from harness.reference.bridge import handle_as_node_request
            from harness.reference.fetch import Request

            response = await handle_as_node_request(port_of(server), Request("http://h/"))
            assert written == []  # the Response (head) came before any body was written
            assert response.headers.has("date") and not response.headers.has("content-length")
            assert await response.read() == b"later"

    run(main())


def test_handler_errors_give_500_or_cut_body(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        def sync_boom(req: Any, res: Any) -> None:
            raise ValueError("boom")

        async def async_boom(req: Any, res: Any) -> None:
            await asyncio.sleep(0)
            raise ValueError("boom")

        async def late_boom(req: Any, res: Any) -> None:
            res.write("partial")
            await asyncio.sleep(0.01)
            raise ValueError("late")

        for handler in (sync_boom, async_boom):
            with listening(handler) as server:
                response, body = await send(server)
                assert (response.status, body) == (500, b"Internal Server Error")
        with listening(late_boom) as server:
            from harness.reference.bridge import handle_as_node_request
            from harness.reference.fetch import Request

            response = await handle_as_node_request(port_of(server), Request("http://h/"))
            assert response.status == 200
            with pytest.raises(ValueError, match="late"):
                await response.read()

    run(main())
    assert len([r for r in caplog.records if r.name == "harness.reference.server"]) == 3
    caplog.clear()


def test_client_abort_sequence() -> None:
    async def main() -> None:
        order: list[Any] = []

        async def handler(req: Any, res: ServerResponse) -> None:
            req.on("aborted", lambda: order.append("req aborted"))
            req.on("error", lambda err: order.append(("req error", err.code)))
            req.on("close", lambda: order.append("req close"))
            res.on("close", lambda: order.append(("res close", res.writable_ended)))
            res.write("first")
            await asyncio.sleep(0.05)
            order.append(("late write", res.write("x")))

        with listening(handler) as server:
            from harness.reference.bridge import handle_as_node_request
            from harness.reference.fetch import Request

            response = await handle_as_node_request(port_of(server), Request("http://h/"))
            assert response.body is not None
            assert await response.body.__anext__() == b"first"
            await response.cancel()  # the consumer goes away before end()
            await asyncio.sleep(0.08)
        assert order == [
            "req aborted",
            ("res close", False),
            ("req error", "ECONNRESET"),
            "req close",
            ("late write", False),
        ]

    run(main())


def test_async_listener_can_be_removed() -> None:
    async def handler(req: Any, res: Any) -> None:
        res.end()

    server = create_server()
    server.on("request", handler)
    assert server.listeners("request") == [handler]
    server.off("request", handler)
    assert server.listeners("request") == []


def test_destroy_before_and_after_the_head() -> None:
    async def main() -> None:
        closes: list[str] = []

        async def handler(req: Any, res: ServerResponse) -> None:
            res.on("close", lambda: closes.append(req.url))
            if req.url == "/late":
                res.write("part")
                await asyncio.sleep(0.01)
            res.destroy(RuntimeError("gone") if req.url == "/late" else None)

        with listening(handler) as server:
            response, body = await send(server, "/early")
            assert (response.status, body) == (500, b"Internal Server Error")
            from harness.reference.bridge import handle_as_node_request
            from harness.reference.fetch import Request

            response = await handle_as_node_request(port_of(server), Request("http://h/late"))
            with pytest.raises(RuntimeError, match="gone"):
                await response.read()
            await settle()
        assert closes == ["/early", "/late"]

    run(main())


def test_subclass_and_unique_headers_options() -> None:
    class MyIncoming(ServerIncomingMessage):
        pass

    class MyResponse(ServerResponse):
        pass

    async def main() -> None:
        seen: dict[str, Any] = {}

        def handler(req: Any, res: Any) -> None:
            seen["types"] = (type(req), type(res))
            res.set_header("X-U", ["a", "b"])
            res.end()

        options = {
            "IncomingMessage": MyIncoming,
            "ServerResponse": MyResponse,
            "uniqueHeaders": ["x-u"],
        }
        with listening(handler, options) as server:
            response, _ = await send(server)
        assert seen["types"] == (MyIncoming, MyResponse)
        assert [v for n, v in response.headers.raw_items() if n == "x-u"] == ["a; b"]

    run(main())


def test_port_table_allocation() -> None:
    from harness.reference.port_table import MAX_PORT, PortTable

    table = PortTable()
    a, b = object(), object()
    assert table.claim(0, a) == FIRST_DYNAMIC_PORT
    assert table.claim(0, b) == FIRST_DYNAMIC_PORT + 1
    assert table.claim(FIRST_DYNAMIC_PORT, b) is None  # taken
    assert table.release(FIRST_DYNAMIC_PORT, b) is False  # not b's to free
    assert table.release(FIRST_DYNAMIC_PORT, a) is True
    assert table.claim(80, a) == 80 and table.lookup(80) is a and 80 in table
    for _ in range(MAX_PORT - FIRST_DYNAMIC_PORT):
        assert table.claim(0, a) is not None
    assert table.claim(0, a) is None  # the dynamic range is exhausted


def test_remaining_error_codes() -> None:
    async def main() -> None:
        got: list[Any] = []

        async def handler(req: Any, res: ServerResponse) -> None:
            res.end("x")
            await settle()  # 'finish' has fired
            res.end(got.append)  # end() again after finish: ERR_STREAM_ALREADY_FINISHED
            err = error_of(res.assign_socket, None)
            got.append(err)

        with listening(handler) as server:
            await send(server)
            await settle(20)
        assert [e.code for e in got] == [
            "ERR_METHOD_NOT_IMPLEMENTED",
            "ERR_STREAM_ALREADY_FINISHED",
        ]

        async def destroyed(req: Any, res: ServerResponse) -> None:
            res.write("a")
            res.destroy()
            assert res.write("b", got.append) is False

        got.clear()
        with listening(destroyed) as server:
            from harness.reference.bridge import handle_as_node_request
            from harness.reference.fetch import Request

            response = await handle_as_node_request(port_of(server), Request("http://h/"))
            with pytest.raises(NodeError):
                await response.read()
            await settle()
        assert [e.code for e in got] == ["ERR_STREAM_DESTROYED"]

    run(main())
    err = error_of(create_server, {"headersTimeout": 10, "requestTimeout": 5})
    assert (err.name, err.code) == ("RangeError", "ERR_OUT_OF_RANGE")
