"""Declared limitations: each met in one clean way (a declared error, or dropped intact)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ref_origin import Origin, Recorded, Recorder, run, simple

from harness.reference import LIMITATIONS, http
from harness.reference.errors import NodeError


def test_client_add_trailers_not_implemented() -> None:
    async def main() -> NodeError:
        async with Origin(simple()) as o:
            req = http.request(o.url, {"method": "POST"})
            req.write("x")
            try:
                req.add_trailers({"X-Sum": "42"})
            except NodeError as exc:
                req.end()
                await req.wait_closed()
                assert o.requests[0].body == b"x"  # the request itself is unharmed
                return exc
            raise AssertionError("add_trailers did not raise")

    err = run(main())
    assert (err.name, err.code) == ("Error", "ERR_METHOD_NOT_IMPLEMENTED")
    assert "addTrailers" in err.message


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("add_trailers", ({"X-T": "1"},)),
        ("write_continue", ()),
        ("write_processing", ()),
        ("write_early_hints", ({"link": "</a.css>; rel=preload"},)),
    ],
)
def test_server_interim_and_trailer_apis_not_implemented(method: str, args: tuple) -> None:
    server_response = pytest.importorskip("harness.reference.server_response")
    names = [n for n in dir(server_response.ServerResponse) if n == method]
    assert names, f"ServerResponse.{method} is missing"
    try:
        res = server_response.ServerResponse.__new__(server_response.ServerResponse)
        getattr(res, method)(*args)
    except NodeError as exc:
        assert exc.code == "ERR_METHOD_NOT_IMPLEMENTED"
    else:
        raise AssertionError(f"{method} did not raise")


def _interim_then_final(req: Recorded, w: asyncio.StreamWriter) -> Any:
    async def respond() -> None:
        w.write(b"HTTP/1.1 102 Processing\r\n\r\n")
        w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nhello")
        await w.drain()

    return respond()


def test_interim_responses_produce_no_information_event() -> None:
    async def main() -> tuple[Recorder, list[Any]]:
        async with Origin(_interim_then_final) as o:
            info: list[Any] = []
            rec = Recorder()
            req = rec.attach(http.get(o.url))
            req.on("information", info.append)
            req.on("continue", lambda: info.append("continue"))
            await req.wait_closed()
            return rec, info

    rec, info = run(main())
    assert info == []
    assert rec.res.status_code == 200 and rec.res.headers["x-final"] == "yes"
    assert rec.body == b"hello" and rec.res.complete
    assert "link" not in rec.res.headers


def test_response_trailers_stay_empty_body_intact() -> None:
    async def with_trailers(req: Recorded, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n")
        w.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 123\r\nX-Other: q\r\n\r\n")
        await w.drain()

    async def main() -> Recorder:
        async with Origin(with_trailers) as o:
            rec = Recorder()
            await rec.attach(http.get(o.url)).wait_closed()
            return rec

    rec = run(main())
    res = rec.res
    assert rec.body == b"hello world" and res.complete
    assert res.trailers == {} and res.raw_trailers == [] and res.trailers_distinct == {}
    assert res.headers["trailer"] == "X-Checksum"


def test_tls_options_accepted_and_ignored() -> None:
    tls = {
        "ca": "garbage",
        "cert": "garbage",
        "key": "garbage",
        "rejectUnauthorized": True,
        "servername": "example.com",
        "checkServerIdentity": lambda *a: None,
        "ciphers": "NONE",
    }

    async def main() -> tuple[Recorder, Any]:
        async with Origin(simple(body=b"plain")) as o:
            rec = Recorder()
            req = rec.attach(http.get(o.url, tls))
            await req.wait_closed()
            return rec, req

    rec, req = run(main())
    assert rec.res.status_code == 200 and rec.body == b"plain"
    assert not req.socket.encrypted


def test_https_is_still_refused() -> None:
    async def main() -> list[str]:
        codes = []
        for make in (
            lambda: http.request("https://127.0.0.1/", {"rejectUnauthorized": False}),
            lambda: http.request({"protocol": "https:", "ca": "x"}),
        ):
            try:
                make()
            except NodeError as exc:
                codes.append(exc.code)
        return codes

    assert run(main()) == ["ERR_INVALID_PROTOCOL", "ERR_INVALID_PROTOCOL"]


def test_fetch_owns_host_case_and_connection() -> None:
    async def main() -> Recorded:
        async with Origin(simple()) as o:
            req = http.request(
                o.url,
                {"headers": {"X-CamelCase": "V", "Host": "custom.host", "Connection": "close"}},
            )
            req.end()
            await req.wait_closed()
            return o.requests[0]

    rec = run(main())
    assert rec.names == ["host", "x-camelcase"]  # lower-cased, fetch's Host, no Connection
    assert rec.header("host") != "custom.host"


def test_http_version_is_fixed() -> None:
    async def http10(req: Recorded, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
        await w.drain()
        w.close()

    async def main() -> Recorder:
        async with Origin(http10) as o:
            rec = Recorder()
            await rec.attach(http.get(o.url)).wait_closed()
            return rec

    rec = run(main())
    assert rec.body == b"until close" and rec.res.complete
    assert rec.res.http_version == "1.1"  # fetch does not expose the version


def test_connect_and_trace_refused_cleanly() -> None:
    async def main() -> list[Recorder]:
        out = []
        async with Origin(simple()) as o:
            for method in ("CONNECT", "TRACE"):
                rec = Recorder()
                await rec.attach(http.request(o.url, {"method": method}).end()).wait_closed()
                out.append(rec)
            assert o.requests == []
        return out

    for rec in run(main()):
        assert rec.names() == ["req:socket", "req:error", "req:close"]
        assert rec.payload("req:error").name == "TypeError"


def test_limitations_are_listed() -> None:
    features = {lim.feature for lim in LIMITATIONS}
    assert {"trailers", "informational", "tls", "agent"} <= features
    assert any("ERR_METHOD_NOT_IMPLEMENTED" in lim.how for lim in LIMITATIONS)
