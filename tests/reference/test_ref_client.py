"""The client against a real local origin: wire output, responses, bodies and streaming."""

from __future__ import annotations

import asyncio
import base64
import gzip
import time
from typing import Any

from ref_origin import Origin, Recorded, Recorder, run, simple

from harness.reference import http


async def _exchange(
    origin: Origin, *args: Any, body: list[Any] | None = None, end: Any = None, **kw: Any
) -> Recorder:
    """request(*args), write each of `body`, end(end), wait for close."""
    rec = Recorder()
    req = rec.attach(http.request(*args, **kw))
    for chunk in body or []:
        req.write(chunk)
    req.end(end)
    await asyncio.wait_for(req.wait_closed(), 5)
    return rec


def _wire(*calls: dict[str, Any], respond: Any = None) -> list[Recorded]:
    """Run each call {'args': [...], 'body': [...], 'end': x} against one origin."""

    async def main() -> list[Recorded]:
        async with Origin(respond or simple()) as o:
            for call in calls:
                args = [o.url + a if isinstance(a, str) else a for a in call.get("args", [""])]
                await _exchange(o, *args, body=call.get("body"), end=call.get("end"))
            return o.requests

    return run(main())


# ---- request construction on the wire --------------------------------------------------


def test_bare_get_sends_only_host() -> None:
    (rec,) = _wire({"args": ["/a?b=1"]})
    assert (rec.method, rec.target) == ("GET", "/a?b=1")
    assert rec.names == ["host"]  # no User-Agent, Accept, Accept-Encoding, Content-Length


def test_methods_on_the_wire() -> None:
    recs = _wire(
        {"args": ["/", {"method": "patch"}]},
        {"args": ["/", {"method": "PROPFIND"}]},
        {"args": ["/", {"method": "QUERY"}]},
        {"args": ["/", {"method": ""}]},
        {"args": ["/", {"method": None}]},
    )
    assert [r.method for r in recs] == ["PATCH", "PROPFIND", "QUERY", "GET", "GET"]


def test_empty_body_framing_like_node() -> None:
    methods = ["POST", "PUT", "PATCH", "PROPFIND", "GET", "DELETE", "OPTIONS", "HEAD"]
    recs = _wire(*({"args": ["/", {"method": m}]} for m in methods))
    framing = {r.method: (r.header("content-length"), r.header("transfer-encoding")) for r in recs}
    for m in ("POST", "PUT", "PATCH", "PROPFIND"):
        assert framing[m] == ("0", None)
    for m in ("GET", "DELETE", "OPTIONS", "HEAD"):
        assert framing[m] == (None, None)


def test_body_framing() -> None:
    post = {"method": "POST"}
    recs = _wire(
        {"args": ["/", post], "end": "hello"},
        {"args": ["/", post], "end": "é€"},
        {"args": ["/", post], "body": ["ab", "cd"]},
        {"args": ["/", post], "body": [""]},
        {"args": ["/", {**post, "headers": {"Content-Length": "5"}}], "body": ["he", "llo"]},
        {"args": ["/", {**post, "headers": {"Transfer-Encoding": "chunked"}}], "end": "abc"},
        {"args": ["/", {"method": "DELETE", "headers": {"Content-Length": "1"}}], "end": "x"},
        {"args": ["/", post], "end": bytearray(b"\x00\xff")},
    )
    cl, utf8, chunked, empty_chunked, explicit_cl, explicit_te, delete, raw = recs
    assert (cl.framing, cl.header("content-length"), cl.body) == ("content-length", "5", b"hello")
    assert (utf8.header("content-length"), utf8.body) == ("5", "é€".encode())
    assert (chunked.framing, chunked.body) == ("chunked", b"abcd")
    assert (empty_chunked.framing, empty_chunked.body) == ("chunked", b"")
    assert (explicit_cl.framing, explicit_cl.body) == ("content-length", b"hello")
    assert (explicit_te.framing, explicit_te.body) == ("chunked", b"abc")
    assert (delete.framing, delete.body) == ("content-length", b"x")
    assert raw.body == b"\x00\xff"


def test_end_with_encoding() -> None:
    async def main() -> bytes:
        async with Origin(simple()) as o:
            req = http.request(o.url, {"method": "POST"})
            req.end("6566", "hex")
            await req.wait_closed()
            return o.requests[0].body

    assert run(main()) == b"ef"


def test_flush_headers_then_end_is_chunked() -> None:
    async def main() -> tuple[Recorded, bool]:
        async with Origin(simple()) as o:
            req = http.request(o.url, {"method": "POST"})
            req.flush_headers()
            sent = req.headers_sent
            await asyncio.sleep(0.05)
            req.end("late")
            await req.wait_closed()
            return o.requests[0], sent

    rec, sent = run(main())
    assert sent and (rec.framing, rec.body) == ("chunked", b"late")


def test_header_values_on_the_wire() -> None:
    headers = {
        "X-MULTI": ["a", "b"],
        "Cookie": ["c=1", "d=2"],
        "X-Num": 42,
        "X-Null": None,
        "X-Latin": "caf\xe9",
        "x-u": ["a", "b"],
    }
    (rec,) = _wire({"args": ["/", {"headers": headers, "uniqueHeaders": ["x-u"]}]})
    assert [v for n, v in rec.headers if n == "x-multi"] == ["a", "b"]
    assert rec.header("cookie") == "c=1; d=2"
    assert rec.header("x-num") == "42" and rec.header("x-null") == "null"
    assert rec.header("x-latin") == "caf\xe9"  # sent as the byte 0xE9
    assert rec.header("x-u") == "a; b"


def test_flat_array_headers() -> None:
    (rec,) = _wire({"args": ["/", {"headers": ["X-A", "1", "x-a", "2", "X-B", "3"]}]})
    assert [(n, v) for n, v in rec.headers if n != "host"] == [
        ("x-a", "1"),
        ("x-a", "2"),
        ("x-b", "3"),
    ]


def test_url_string_normalised_and_merged_with_options() -> None:
    recs = _wire(
        {"args": ["/a/../b?x#y"]},
        {"args": ["/é ü?x=ä"]},
        {"args": ["/x", {"method": "POST", "headers": {"X-M": "1"}}]},
    )
    assert recs[0].target == "/b?x"
    assert recs[1].target == "/%C3%A9%20%C3%BC?x=%C3%A4"
    assert (recs[2].method, recs[2].target, recs[2].header("x-m")) == ("POST", "/x", "1")


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode("utf-8")).decode()


def test_basic_auth() -> None:
    async def main() -> list[str | None]:
        async with Origin(simple()) as o:
            host = f"127.0.0.1:{o.port}"
            calls: list[tuple[Any, ...]] = [
                ({"host": "127.0.0.1", "port": o.port, "auth": "user:pass"},),
                ({"host": "127.0.0.1", "port": o.port, "auth": "user:p@ss:word"},),
                ({"host": "127.0.0.1", "port": o.port, "auth": "useronly"},),
                ({"host": "127.0.0.1", "port": o.port, "auth": "ü:p"},),
                ({"host": "127.0.0.1", "port": o.port, "auth": "us%40er:p%3Ass"},),
                (f"http://us%40er:p%3Ass%20w@{host}/",),
                (f"http://alice@{host}/",),
                (f"http://:secret@{host}/",),
                (f"http://üser:pässword@{host}/",),
                (
                    {
                        "host": "127.0.0.1",
                        "port": o.port,
                        "auth": "user:pass",
                        "headers": {"Authorization": "Bearer tok"},
                    },
                ),
            ]
            for args in calls:
                await _exchange(o, *args)
            return [r.header("authorization") for r in o.requests]

    got = run(main())
    assert got == [
        "Basic dXNlcjpwYXNz",
        _basic("user:p@ss:word"),
        _basic("useronly"),
        "Basic w7w6cA==",
        "Basic dXMlNDBlcjpwJTNBc3M=",
        _basic("us@er:p:ss w"),
        _basic("alice:"),
        _basic(":secret"),
        _basic("üser:pässword"),
        "Bearer tok",
    ]


# ---- responses -------------------------------------------------------------------------


def test_response_fields() -> None:
    headers = [
        ("Content-Type", "text/plain"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-Dup", "1"),
        ("X-Dup", "2"),
        ("X-Space", "   padded   "),
        ("X-Empty", ""),
        ("X-Latin", "\xe9"),
        ("X-Utf8", "\xc3\xa9"),
    ]

    async def main() -> Recorder:
        async with Origin(simple(200, "Whatever You Want", headers, b"hi")) as o:
            return await _exchange(o, o.url)

    rec = run(main())
    res = rec.res
    assert (res.status_code, res.status_message, res.http_version) == (
        200,
        "Whatever You Want",
        "1.1",
    )
    assert res.headers["set-cookie"] == ["a=1", "b=2"]
    assert res.headers["x-dup"] == "1, 2"
    assert res.headers["x-space"] == "padded" and res.headers["x-empty"] == ""
    assert res.headers["x-latin"] == "é" and res.headers["x-utf8"] == "Ã©"
    assert res.headers_distinct["set-cookie"] == ["a=1", "b=2"]
    assert res.raw_headers[:2] == ["content-length", "2"]  # what fetch gives: sorted, lower-case
    assert res.complete and rec.body == b"hi"
    assert res.req is not None and res.trailers == {}


def test_status_line_without_reason() -> None:
    async def main() -> Recorder:
        async with Origin(simple(200, "")) as o:
            return await _exchange(o, o.url)

    assert run(main()).res.status_message == ""


def test_no_body_responses() -> None:
    async def main() -> list[Recorder]:
        out = []
        async with Origin(simple(headers=[("Content-Length", "10")], body=b"")) as o:
            out.append(await _exchange(o, o.url, {"method": "HEAD"}))
        async with Origin(simple(204, "No Content")) as o:
            out.append(await _exchange(o, o.url))
        async with Origin(simple(304, "Not Modified", [("Content-Length", "55")])) as o:
            out.append(await _exchange(o, o.url))
        return out

    for rec in run(main()):
        assert "res:data" not in rec.names()
        assert "res:end" in rec.names() and rec.res.complete
    assert run(main())[2].res.headers["content-length"] == "55"


def test_body_is_never_decompressed() -> None:
    payload = gzip.compress(b"hello world")

    async def main() -> Recorder:
        async with Origin(simple(headers=[("Content-Encoding", "gzip")], body=payload)) as o:
            return await _exchange(o, o.url)

    rec = run(main())
    assert rec.body == payload and rec.res.headers["content-encoding"] == "gzip"


# ---- streaming -------------------------------------------------------------------------


def test_response_streams_as_it_arrives() -> None:
    """The server sends chunks 100 ms apart; 'data' fires before the last one is sent."""
    sent: list[float] = []

    async def respond(req: Recorded, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"first", b"middle", b"last"):
            sent.append(time.monotonic())
            w.write(b"%x\r\n%s\r\n" % (len(part), part))
            await w.drain()
            await asyncio.sleep(0.1)
        w.write(b"0\r\n\r\n")
        await w.drain()

    async def main() -> Recorder:
        async with Origin(respond) as o:
            return await _exchange(o, o.url)

    rec = run(main())
    data = [(value, t) for src, name, value, t in rec.events if name == "data"]
    assert [d for d, _ in data] == [b"first", b"middle", b"last"]
    assert data[0][1] < sent[-1]  # the first chunk was seen before the last was sent
    assert data[1][1] < sent[-1]
    assert rec.names()[-3:] == ["res:end", "req:close", "res:close"]


def test_request_body_streams_as_written() -> None:
    async def main() -> tuple[list[float], list[float]]:
        async with Origin(simple()) as o:
            req = http.request(o.url, {"method": "POST"})
            wrote = []
            for part in ("a", "b", "c"):
                wrote.append(time.monotonic())
                req.write(part)
                await asyncio.sleep(0.08)
            req.end()
            await req.wait_closed()
            return wrote, o.requests[0].chunk_times

    wrote, arrived = run(main())
    assert len(arrived) == 3
    assert arrived[0] < wrote[1] and arrived[1] < wrote[2]


def test_set_encoding_pause_resume_and_iteration() -> None:
    text = "héllo wörld €".encode()

    async def split(req: Recorded, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (text[:2], text[2:9], text[9:]):  # cuts through multi-byte characters
            w.write(b"%x\r\n%s\r\n" % (len(part), part))
            await w.drain()
            await asyncio.sleep(0.02)
        w.write(b"0\r\n\r\n")
        await w.drain()

    async def main() -> tuple[list[Any], bool, list[Any], list[bytes]]:
        async with Origin(split) as o:
            chunks: list[Any] = []
            req = http.get(o.url)
            req.on("response", lambda res: res.set_encoding("utf8").on("data", chunks.append))
            await req.wait_closed()

            paused_chunks: list[Any] = []
            states: list[bool] = []

            def on_response(res: Any) -> None:
                res.pause()
                states.append(res.is_paused())
                res.on("data", lambda c: paused_chunks.append((time.monotonic(), c)))
                asyncio.get_running_loop().call_later(0.15, res.resume)

            start = time.monotonic()
            req = http.get(o.url)
            req.on("response", on_response)
            await req.wait_closed()
            first = paused_chunks[0][0] - start

            got: list[bytes] = []
            req = http.get(o.url)
            res_future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            req.on("response", res_future.set_result)
            async for chunk in await res_future:
                got.append(chunk)
            return chunks, states[0] and first >= 0.15, paused_chunks, got

    chunks, paused_ok, paused_chunks, iterated = run(main())
    assert "".join(chunks) == text.decode() and all(isinstance(c, str) for c in chunks)
    assert paused_ok
    assert b"".join(c for _, c in paused_chunks) == text
    assert b"".join(iterated) == text


def test_write_backpressure_and_drain() -> None:
    async def main() -> tuple[bool, list[str], int]:
        async with Origin(simple()) as o:
            rec = Recorder()
            req = rec.attach(http.request(o.url, {"method": "POST"}))
            ok = req.write(b"x" * 20000)
            await asyncio.sleep(0.1)
            req.end()
            await req.wait_closed()
            return ok, rec.names(), len(o.requests[0].body)

    ok, names, size = run(main())
    assert ok is False and "req:drain" in names and size == 20000


def test_write_and_end_callbacks_order() -> None:
    async def main() -> list[str]:
        async with Origin(simple()) as o:
            order: list[str] = []
            req = http.request(o.url, {"method": "POST"})
            req.on("finish", lambda: order.append("finish"))
            req.write("a", lambda *e: order.append("write_cb"))
            req.end("b", lambda *e: order.append("end_cb"))
            await req.wait_closed()
            return order

    # Node 24: the end() callback runs before the 'finish' listeners.
    assert run(main()) == ["write_cb", "end_cb", "finish"]


def test_write_after_end() -> None:
    async def main() -> tuple[bool, list[Any], list[Any]]:
        async with Origin(simple()) as o:
            cb_errors: list[Any] = []
            errors: list[Any] = []
            req = http.request(o.url, {"method": "POST"})
            req.on("error", errors.append)
            req.end("x")
            ret = req.write("late", cb_errors.append)
            again: list[Any] = []
            req.end(lambda: again.append(True))
            await req.wait_closed()
            await asyncio.sleep(0.01)
            return ret, cb_errors + again, errors

    ret, cb_errors, errors = run(main())
    assert ret is False
    assert cb_errors[0].code == "ERR_STREAM_WRITE_AFTER_END" and cb_errors[1] is True
    assert [e.code for e in errors] == ["ERR_STREAM_WRITE_AFTER_END"]
    assert errors[0].message == "write after end"


def test_end_after_finish_as_node() -> None:
    """OutgoingMessage.end once finished: a chunk is a write after end; a bare callback
    gets ERR_STREAM_ALREADY_FINISHED."""

    async def main() -> tuple[list[Any], list[Any]]:
        async with Origin(simple()) as o:
            late: list[Any] = []
            errors: list[Any] = []
            req = http.request(o.url, {"method": "POST"})
            req.on("error", errors.append)
            finished = asyncio.Event()
            req.on("finish", finished.set)
            req.end("x")
            await finished.wait()
            req.end(late.append)
            req.end("y", late.append)
            await req.wait_closed()
            await asyncio.sleep(0.01)
            return late, errors

    late, errors = run(main())
    assert [e.code for e in late] == ["ERR_STREAM_ALREADY_FINISHED", "ERR_STREAM_WRITE_AFTER_END"]
    assert [e.code for e in errors] == ["ERR_STREAM_WRITE_AFTER_END"]


def test_get_with_body_is_refused_by_fetch() -> None:
    async def main() -> Recorder:
        async with Origin(simple()) as o:
            rec = Recorder()
            req = rec.attach(http.request(o.url))
            req.end("body")
            await req.wait_closed()
            assert o.requests == []
            return rec

    rec = run(main())
    assert rec.names()[-2:] == ["req:error", "req:close"]
    assert isinstance(rec.payload("req:error"), TypeError)


def test_res_req_links_and_props() -> None:
    async def main() -> tuple[Any, Any]:
        async with Origin(simple(body=b"x")) as o:
            rec = Recorder()
            req = rec.attach(http.get(o.url + "/p?q"))
            await req.wait_closed()
            return req, rec.res

    req, res = run(main())
    assert res.req is req and req.res is res
    assert req.writable_ended and req.headers_sent and not req.reused_socket
    assert req.socket.encrypted is None
