"""Client event order, errors, destroy/abort, AbortSignal and timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

from ref_origin import Origin, Recorded, Recorder, run, simple

from harness.reference import http
from harness.reference.errors import NodeError


async def _hang_up(req: Recorded, w: asyncio.StreamWriter) -> None:
    w.close()


async def _cut_mid_body(req: Recorded, w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
    await w.drain()
    await asyncio.sleep(0.05)
    w.close()


async def _slow(req: Recorded, w: asyncio.StreamWriter) -> None:
    await asyncio.sleep(0.3)
    await simple(body=b"late")(req, w)


async def _trickle(req: Recorded, w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(20):
        w.write(b"1\r\nx\r\n")
        await w.drain()
        await asyncio.sleep(0.02)
    w.write(b"0\r\n\r\n")
    await w.drain()


def _events(respond: Any, make: Any, read: bool = True) -> Recorder:
    """Run `make(url) -> req` against an origin answering with `respond`; record events."""

    async def main() -> Recorder:
        async with Origin(respond) as o:
            rec = Recorder()
            req = rec.attach(make(o.url), read=read)
            await asyncio.wait_for(req.wait_closed(), 5)
            await asyncio.sleep(0.02)  # let trailing events land
            return rec

    return run(main())


def test_success_order() -> None:
    rec = _events(simple(body=b"hello"), lambda url: http.get(url))
    assert rec.names() == [
        "req:socket",
        "req:finish",
        "req:response",
        "res:data",
        "res:end",
        "req:close",
        "res:close",
    ]


def test_empty_body_has_no_data_event() -> None:
    rec = _events(simple(body=b""), lambda url: http.get(url))
    assert "res:data" not in rec.names() and "res:end" in rec.names()


def test_no_response_listener_still_closes() -> None:
    rec = _events(simple(body=b"ignored"), lambda url: http.get(url), read=False)
    assert rec.names() == ["req:socket", "req:finish", "req:close"]


def test_connection_refused() -> None:
    async def main() -> tuple[Recorder, int]:
        async with Origin(simple()) as o:
            port = o.port
        rec = Recorder()
        req = rec.attach(http.get(f"http://127.0.0.1:{port}/"))
        await req.wait_closed()
        return rec, port

    rec, port = run(main())
    assert rec.names() == ["req:socket", "req:error", "req:close"]
    err = rec.payload("req:error")
    assert (err.code, err.syscall, err.address, err.port) == (
        "ECONNREFUSED",
        "connect",
        "127.0.0.1",
        port,
    )
    assert err.message == f"connect ECONNREFUSED 127.0.0.1:{port}"


def test_hang_up_before_response() -> None:
    rec = _events(_hang_up, lambda url: http.get(url))
    assert rec.names() == ["req:socket", "req:finish", "req:error", "req:close"]
    err = rec.payload("req:error")
    assert (err.name, err.code, err.message) == ("Error", "ECONNRESET", "socket hang up")


def test_close_mid_body() -> None:
    rec = _events(_cut_mid_body, lambda url: http.get(url))
    names = rec.names()
    assert names[:4] == ["req:socket", "req:finish", "req:response", "res:data"]
    assert names[4:] == ["res:aborted", "req:close", "res:error", "res:close"]
    err = rec.payload("res:error")
    assert (err.code, err.message) == ("ECONNRESET", "aborted")
    assert rec.res.complete is False and rec.res.aborted


def test_destroy_before_response() -> None:
    def make(url: str) -> Any:
        req = http.get(url)
        asyncio.get_running_loop().call_later(0.05, req.destroy)
        return req

    rec = _events(_slow, make)
    assert rec.names()[-2:] == ["req:error", "req:close"]
    assert "req:response" not in rec.names()
    assert rec.payload("req:error").message == "socket hang up"


def test_destroy_with_custom_error() -> None:
    custom = NodeError("custom")

    def make(url: str) -> Any:
        req = http.get(url)
        asyncio.get_running_loop().call_later(0.05, req.destroy, custom)
        return req

    rec = _events(_slow, make)
    assert rec.payload("req:error") is custom and rec.names()[-1] == "req:close"


def test_destroy_right_away_skips_socket() -> None:
    def make(url: str) -> Any:
        req = http.get(url)
        req.destroy()
        return req

    rec = _events(simple(), make)
    assert rec.names() == ["req:error", "req:close"]


def test_abort_is_deprecated_destroy() -> None:
    def make(url: str) -> Any:
        req = http.get(url)
        asyncio.get_running_loop().call_later(0.05, req.abort)
        return req

    rec = _events(_slow, make)
    assert rec.names()[-3:] == ["req:abort", "req:error", "req:close"]
    assert rec.payload("req:error").code == "ECONNRESET"


def test_abort_signal() -> None:
    def make(url: str) -> Any:
        controller = http.AbortController()
        asyncio.get_running_loop().call_later(0.05, controller.abort)
        return http.get(url, {"signal": controller.signal})

    rec = _events(_slow, make)
    assert rec.names() == ["req:socket", "req:error", "req:close"]
    err = rec.payload("req:error")
    assert (err.name, err.code, err.message) == (
        "AbortError",
        "ABORT_ERR",
        "The operation was aborted",
    )


def test_already_aborted_signal_has_no_socket_event() -> None:
    rec = _events(simple(), lambda url: http.get(url, {"signal": http.AbortSignal.abort()}))
    assert rec.names() == ["req:error", "req:close"]
    assert rec.payload("req:error").code == "ABORT_ERR"


def test_asyncio_event_as_signal() -> None:
    def make(url: str) -> Any:
        event = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, event.set)
        return http.get(url, signal=event)

    rec = _events(_slow, make)
    assert rec.payload("req:error").code == "ABORT_ERR"


def test_abort_signal_mid_body() -> None:
    def make(url: str) -> Any:
        controller = http.AbortController()
        asyncio.get_running_loop().call_later(0.1, controller.abort)
        return http.get(url, {"signal": controller.signal})

    rec = _events(_trickle, make)
    names = rec.names()
    assert "res:aborted" in names and names.index("res:aborted") < names.index("req:close")
    assert rec.payload("req:error").code == "ABORT_ERR"
    assert rec.res.complete is False


def test_timeout_only_emits() -> None:
    rec = _events(_slow, lambda url: http.get(url, {"timeout": 50}))
    names = rec.names()
    assert names.count("req:timeout") == 1
    assert "req:error" not in names and "res:end" in names and rec.body == b"late"


def test_set_timeout_then_destroy_in_handler() -> None:
    def make(url: str) -> Any:
        req = http.get(url)
        assert req.set_timeout(50, lambda: req.destroy()) is req
        return req

    rec = _events(_slow, make)
    assert rec.names()[-3:] == ["req:timeout", "req:error", "req:close"]
    assert rec.payload("req:error").code == "ECONNRESET"


def test_res_destroy_after_bytes() -> None:
    def make(url: str) -> Any:
        req = http.get(url)
        req.on("response", lambda res: res.on("data", lambda c: res.destroy()))
        return req

    rec = _events(_trickle, make)
    names = rec.names()
    assert names.count("res:data") == 1
    # destroy() ran inside the first 'data' listener, so 'aborted' is emitted within it.
    assert names[-2:] == ["req:close", "res:close"]
    assert names.index("res:aborted") < names.index("req:close")
    assert "res:end" not in names and not rec.res.complete


def test_breaking_out_of_iteration_destroys() -> None:
    async def main() -> tuple[bytes, Any]:
        async with Origin(_trickle) as o:
            req = http.get(o.url)
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            req.on("response", fut.set_result)
            res = await fut
            it = res.__aiter__()
            first = await it.__anext__()
            await it.aclose()
            await asyncio.wait_for(req.wait_closed(), 2)
            return first, res

    first, res = run(main())
    assert first == b"x" and res.destroyed and not res.complete


def test_iteration_sees_broken_body() -> None:
    async def main() -> Any:
        async with Origin(_cut_mid_body) as o:
            req = http.get(o.url)
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            req.on("response", fut.set_result)
            res = await fut
            try:
                async for _ in res:
                    pass
            except NodeError as exc:
                return exc
            return None

    err = run(main())
    assert err is not None and (err.code, err.message) == ("ECONNRESET", "aborted")


def test_malformed_response_is_fetch_failure() -> None:
    async def garbage(req: Recorded, w: asyncio.StreamWriter) -> None:
        w.write(b"NOT HTTP AT ALL\r\n\r\n")
        await w.drain()
        w.close()

    rec = _events(garbage, lambda url: http.get(url))
    assert rec.names()[-2:] == ["req:error", "req:close"]
    err = rec.payload("req:error")
    assert err.name == "TypeError" and err.message == "fetch failed"


def test_dns_failure() -> None:
    async def main() -> Recorder:
        rec = Recorder()
        req = rec.attach(http.get("http://nonexistent-host.invalid/"))
        await asyncio.wait_for(req.wait_closed(), 5)
        return rec

    rec = run(main())
    assert rec.names() == ["req:socket", "req:error", "req:close"]
    err = rec.payload("req:error")
    assert (err.code, err.syscall, err.hostname) == (
        "ENOTFOUND",
        "getaddrinfo",
        "nonexistent-host.invalid",
    )
