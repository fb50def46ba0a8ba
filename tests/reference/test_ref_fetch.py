"""The fetch layer: WHATWG Headers/Request/Response, and fetch() on a real local socket."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from ref_origin import Origin, Recorded, run, simple

from harness.reference import net_backend
from harness.reference.fetch import FetchError, Headers, Request, Response, fetch, shared_client

# ---- Headers ---------------------------------------------------------------------------


def test_headers_case_insensitive_and_duplicates_joined() -> None:
    h = Headers()
    h.append("X-Dup", "1")
    h.append("x-dup", "2")
    h.append("Content-Type", "text/plain")
    assert h.get("X-DUP") == "1, 2"
    assert h.has("content-type") and "CONTENT-TYPE" in h
    assert h.get("missing") is None
    assert h.raw_items() == [("x-dup", "1"), ("x-dup", "2"), ("content-type", "text/plain")]


def test_headers_iteration_sorted_and_set_cookie_apart() -> None:
    h = Headers([("Set-Cookie", "a=1"), ("Zed", "z"), ("set-cookie", "b=2"), ("Accept", "x")])
    assert h.items() == [
        ("accept", "x"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("zed", "z"),
    ]
    assert list(h) == h.items()
    assert h.get_set_cookie() == ["a=1", "b=2"]
    assert h.get("set-cookie") == "a=1, b=2"


def test_headers_set_replaces_in_place_and_delete() -> None:
    h = Headers({"A": "1", "B": "2"})
    h.append("a", "3")
    h.set("A", "9")
    assert h.raw_items() == [("a", "9"), ("b", "2")]
    h.delete("B")
    assert not h.has("b")
    assert Headers(h).raw_items() == [("a", "9")]


def test_headers_trim_and_validate() -> None:
    h = Headers({"X": "  padded \t"})
    assert h.get("x") == "padded"
    h.append("X-Latin", "caf\xe9")
    assert h.get("x-latin") == "caf\xe9"
    for bad_name in ("x y", "", "bad:name", "é"):
        with pytest.raises(TypeError):
            h.append(bad_name, "v")
    for bad_value in ("a\r\nb", "a\nb", "a\0b", "€"):
        with pytest.raises(TypeError):
            h.append("x", bad_value)
    with pytest.raises(TypeError):
        Headers([("only-one",)])  # type: ignore[list-item]


# ---- Request / Response ----------------------------------------------------------------


def test_request_normalises_url_and_method() -> None:
    r = Request("http://EXAMPLE.com:80/a/../b c?x=ä#frag", method="get")
    assert r.url == "http://example.com/b%20c?x=%C3%A4#frag"
    assert r.method == "GET"
    assert Request("http://h/", method="patch").method == "patch"  # only the six are normalised


@pytest.mark.parametrize(
    ("kwargs", "url"),
    [
        ({"method": "GE T"}, "http://h/"),
        ({"method": "CONNECT"}, "http://h/"),
        ({"method": "TRACE"}, "http://h/"),
        ({"method": "GET", "body": b"x"}, "http://h/"),
        ({"method": "HEAD", "body": b""}, "http://h/"),
        ({}, "not a url"),
        ({}, "http://user:pw@h/"),
    ],
)
def test_request_rejections(kwargs: dict, url: str) -> None:
    with pytest.raises(TypeError):
        Request(url, **kwargs)


def test_request_body_read_once() -> None:
    async def main() -> None:
        r = Request("http://h/", method="POST", body=b"abc")
        assert await r.read() == b"abc"
        assert r.body_used
        with pytest.raises(TypeError):
            await r.read()

    run(main())


def test_response_construction_rules() -> None:
    assert Response().ok and Response(status=299).ok and not Response(status=404).ok
    with pytest.raises(ValueError):
        Response(status=199)
    with pytest.raises(ValueError):
        Response(status=600)
    with pytest.raises(TypeError):
        Response(b"x", status=204)
    with pytest.raises(TypeError):
        Response(status_text="a\r\nb")
    assert Response(None, status=304).body is None


def test_response_body_stream_once() -> None:
    async def gen() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    async def main() -> None:
        r = Response(gen(), status=201, status_text="Made", headers={"X": "1"})
        assert r.status_text == "Made" and r.headers.get("x") == "1"
        assert [c async for c in r.body] == [b"a", b"b"]  # type: ignore[union-attr]
        with pytest.raises(TypeError):
            async for _ in r.body:  # type: ignore[union-attr]
                pass
        with pytest.raises(TypeError):
            await r.read()

    run(main())


# ---- fetch() against a local origin ----------------------------------------------------


def test_fetch_sends_only_fetch_headers_lowercased() -> None:
    async def main() -> Recorded:
        async with Origin(simple(body=b"ok")) as o:
            r = await fetch(
                Request(
                    o.url + "/p?q=1",
                    headers=[("X-CamelCase", "V"), ("Host", "evil"), ("Connection", "close")],
                )
            )
            assert await r.read() == b"ok"
            return o.requests[0]

    rec = run(main())
    assert rec.target == "/p?q=1"
    # No User-Agent, Accept or Accept-Encoding; Host and Connection are fetch's own.
    assert rec.headers[0][0] == "host" and rec.headers[0][1].startswith("127.0.0.1:")
    assert rec.names == ["host", "x-camelcase"]


def test_fetch_framing() -> None:
    async def stream() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"cd"

    async def main() -> list[Recorded]:
        async with Origin(simple()) as o:
            for req in (
                Request(o.url, method="POST", body=b"hello"),
                Request(o.url, method="POST"),
                Request(o.url, method="PATCH"),
                Request(o.url, method="POST", body=stream()),
                Request(o.url, method="PUT", headers={"content-length": "4"}, body=stream()),
            ):
                await (await fetch(req)).read()
            return o.requests

    bytes_body, post_empty, patch_empty, streamed, sized = run(main())
    assert (bytes_body.framing, bytes_body.header("content-length"), bytes_body.body) == (
        "content-length",
        "5",
        b"hello",
    )
    assert post_empty.header("content-length") == "0"
    assert patch_empty.framing == "none" and patch_empty.header("content-length") is None
    assert (streamed.framing, streamed.body) == ("chunked", b"abcd")
    assert (sized.framing, sized.body) == ("content-length", b"abcd")


def test_fetch_response_fields_and_raw_body() -> None:
    payload = gzip.compress(b"hello")

    async def main() -> tuple[Response, bytes]:
        headers = [
            ("Content-Encoding", "gzip"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("X-Latin", "caf\xe9"),
        ]
        async with Origin(simple(200, "Whatever You Want", headers, payload)) as o:
            r = await fetch(o.url)
            return r, await r.read()

    r, body = run(main())
    assert (r.status, r.status_text) == (200, "Whatever You Want")
    assert body == payload  # never decompressed
    assert r.headers.get("content-encoding") == "gzip"
    assert r.headers.get_set_cookie() == ["a=1", "b=2"]
    assert r.headers.get("x-latin") == "caf\xe9"  # bytes as Latin-1


def test_fetch_does_not_follow_redirects() -> None:
    async def main() -> tuple[int, str | None, int]:
        async with Origin(simple(302, "Found", [("Location", "/elsewhere")])) as o:
            r = await fetch(o.url)
            await r.read()
            return r.status, r.headers.get("location"), len(o.requests)

    assert run(main()) == (302, "/elsewhere", 1)


def test_fetch_swallows_1xx_and_drops_trailers() -> None:
    async def respond(req: Recorded, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n")
        w.write(b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")
        await w.drain()

    async def main() -> tuple[int, bytes, list]:
        async with Origin(respond) as o:
            r = await fetch(o.url)
            return r.status, await r.read(), r.headers.items()

    status, body, headers = run(main())
    assert (status, body) == (200, b"abc")
    assert ("x-t", "1") not in headers


def test_fetch_no_body_for_head_204_304() -> None:
    async def main() -> list[Response]:
        out = []
        async with Origin(simple(headers=[("Content-Length", "10")])) as o:
            out.append(await fetch(Request(o.url, method="HEAD")))
        async with Origin(simple(204, "No Content")) as o:
            out.append(await fetch(o.url))
        async with Origin(simple(304, "Not Modified", [("Content-Length", "55")])) as o:
            out.append(await fetch(o.url))
        return out

    head, no_content, not_modified = run(main())
    assert head.body is None and head.headers.get("content-length") == "10"
    assert no_content.body is None
    assert not_modified.body is None and not_modified.headers.get("content-length") == "55"


def test_fetch_network_errors() -> None:
    async def hang_up(req: Recorded, w: asyncio.StreamWriter) -> None:
        w.close()

    async def cut(req: Recorded, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await w.drain()
        w.close()

    async def main() -> list[FetchError]:
        errors = []
        async with Origin(hang_up) as o:
            port = o.port
            with pytest.raises(FetchError) as info:
                await fetch(o.url)
            errors.append(info.value)
        with pytest.raises(FetchError) as info:
            await fetch(f"http://127.0.0.1:{port}/")
        errors.append(info.value)
        async with Origin(cut) as o:
            r = await fetch(o.url)
            with pytest.raises(FetchError) as info:
                await r.read()
            errors.append(info.value)
        return errors

    reset, refused, body = run(main())
    assert (reset.kind, reset.code) == ("reset", "ECONNRESET")
    assert (refused.kind, refused.code) == ("connect", "ECONNREFUSED")
    assert body.kind == "body" and isinstance(body, TypeError)


def test_fetch_streams_request_body_as_written() -> None:
    async def main() -> tuple[list[float], list[float]]:
        sent: list[float] = []

        async def slow() -> AsyncIterator[bytes]:
            for part in (b"a", b"b", b"c"):
                sent.append(time.monotonic())
                yield part
                await asyncio.sleep(0.05)

        async with Origin(simple()) as o:
            await (await fetch(Request(o.url, method="POST", body=slow()))).read()
            return sent, o.requests[0].chunk_times

    sent, arrived = run(main())
    assert len(arrived) == 3
    # Each chunk reaches the origin before the next one is even produced.
    assert arrived[0] < sent[1] and arrived[1] < sent[2]


def test_one_client_per_event_loop() -> None:
    async def grab() -> object:
        return shared_client()

    async def main() -> object:
        a = shared_client()
        assert shared_client() is a
        return a

    first = asyncio.run(main())
    second = run(grab())
    assert first is not second


def test_no_cookie_is_kept_or_sent() -> None:
    async def main() -> list[Recorded]:
        async with Origin(simple(headers=[("Set-Cookie", "a=1; Path=/")])) as o:
            for _ in range(2):
                await (await fetch(o.url)).read()
            return o.requests

    first, second = run(main())
    assert first.header("cookie") is None and second.header("cookie") is None


def test_the_installed_httpx_takes_the_scope_free_backend() -> None:
    # install() falls back silently when httpx keeps its pool elsewhere: this notices it.
    async def main() -> bool:
        async with httpx.AsyncClient() as client:
            return net_backend.install(client)

    assert run(main()) is True
