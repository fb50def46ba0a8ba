"""The raw client: exact request bytes out, exact response recording in.

A tiny scripted asyncio peer (run on the Wire's loop) plays the server: it records the
bytes of each request it reads and answers with fixed bytes.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.wire import Wire, tag_bytes


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    with Wire() as w:
        yield w


@dataclass
class Reply:
    parts: list[tuple[float, bytes]]  # (delay s, bytes)
    close: bool = False


@dataclass
class Peer:
    """Answers the i-th request with replies[i] (the last repeats); records what it read."""

    replies: list[Reply]
    requests: list[bytes] = field(default_factory=list)
    arrivals: list[list[float]] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            return e.partial or None
        data, times = head, [time.perf_counter()]
        lower = head.lower()
        if b"content-length:" in lower:
            n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
            done = lambda: len(data) >= len(head) + n  # noqa: E731
        elif b"chunked" in lower:
            done = lambda: b"\r\n0\r\n" in data[len(head) - 2 :] and data.endswith(b"\r\n\r\n")  # noqa: E731
        else:
            done = lambda: True  # noqa: E731
        while not done() and (more := await reader.read(65536)):
            data += more
            times.append(time.perf_counter())
        self.arrivals.append(times)
        return data

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (request := await self.read_request(reader)) is not None:
                self.requests.append(request)
                reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
                for delay, data in reply.parts:
                    await asyncio.sleep(delay)
                    writer.write(data)
                    await writer.drain()
                if reply.close:
                    break
        finally:
            writer.close()


_open_peers: list[Peer] = []


def peer(wire: Wire, *replies: bytes | Reply) -> tuple[Peer, list[tuple[str, int]]]:
    p = Peer([r if isinstance(r, Reply) else Reply([(0, r)]) for r in replies])
    port = wire.call(p.start())
    _open_peers.append(p)
    return p, [("127.0.0.1", port)]


@pytest.fixture(autouse=True)
def _close_peers(wire: Wire) -> Iterator[None]:
    yield
    while _open_peers:
        wire.call(_close_server(_open_peers.pop()))


async def _close_server(p: Peer) -> None:
    assert p.server is not None
    p.server.close()
    await p.server.wait_closed()


def unb64(tagged: dict) -> bytes:
    return base64.b64decode(tagged["$bytes"])


GET = {"method": "GET", "target": "/", "headers": [["Host", "h"]]}


def test_interim_responses_then_final(wire: Wire) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
    p, addr = peer(
        wire,
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        + head
        + b"bye",
    )
    (res,) = wire.exchange([GET], addr, 2)["responses"]
    assert res["interim"] == [
        {"status": 100, "reason": "Continue", "headers": []},
        {"status": 103, "reason": "Early Hints", "headers": [["Link", "</a>"]]},
    ]
    assert (res["status"], res["reason"], res["version"], res["framing"]) == (
        200,
        "OK",
        "1.1",
        "content-length",
    )
    assert unb64(res["body"]) == b"bye" and unb64(res["head_raw"]) == head
    assert res["error"] is None and res["conn"] == 0 and res["request"] == 0
    assert res["t_head"] is not None and res["body_chunks"][0]["len"] == 3


def test_chunked_with_trailers(wire: Wire) -> None:
    p, addr = peer(
        wire,
        Reply(
            [
                (0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
                (0.05, b"2\r\nde\r\n0\r\nX-T: 1\r\nx-t: 2\r\n\r\n"),
            ]
        ),
    )
    (res,) = wire.exchange([GET], addr, 2)["responses"]
    assert (res["framing"], unb64(res["body"])) == ("chunked", b"abcde")
    assert res["trailers"] == [["X-T", "1"], ["x-t", "2"]]
    assert [c["len"] for c in res["body_chunks"]] == [3, 2]
    assert res["body_chunks"][1]["t"] - res["body_chunks"][0]["t"] >= 40


def test_head_and_204_have_no_body(wire: Wire) -> None:
    p, addr = peer(
        wire,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    )
    head = {**GET, "method": "HEAD", "conn": 0}
    responses = wire.exchange([head, {**GET, "conn": 0}, {**GET, "conn": 0}], addr, 2)["responses"]
    assert [(r["status"], r["framing"], unb64(r["body"]), r["error"]) for r in responses] == [
        (200, "none", b"", None),
        (204, "none", b"", None),
        (200, "content-length", b"ok", None),
    ]
    assert responses[0]["headers"] == [["Content-Length", "10"]]
    assert {r["conn"] for r in responses} == {0} and p.connections == 1


def test_close_delimited_http10(wire: Wire) -> None:
    p, addr = peer(
        wire, Reply([(0, b"HTTP/1.0 200 OK\r\nX: y\r\n\r\nhel"), (0.02, b"lo")], close=True)
    )
    (res,) = wire.exchange([GET], addr, 2)["responses"]
    assert (res["version"], res["framing"], unb64(res["body"]), res["closed"], res["error"]) == (
        "1.0",
        "close",
        b"hello",
        True,
        None,
    )


def test_close_delimited_body_arriving_after_the_head(wire: Wire) -> None:
    # The head alone in the first read: the body must still be read until close.
    p, addr = peer(wire, Reply([(0, b"HTTP/1.0 200 OK\r\nX: y\r\n\r\n"), (0.05, b"late")], close=True))
    (res,) = wire.exchange([GET], addr, 2)["responses"]
    assert (res["framing"], unb64(res["body"]), res["error"]) == ("close", b"late", None)


def test_closed_without_response(wire: Wire) -> None:
    p, addr = peer(wire, Reply([], close=True))
    (res,) = wire.exchange([GET], addr, 2)["responses"]
    assert res["status"] is None and res["closed"] is True
    assert "closed before" in res["error"]


def test_closed_mid_body(wire: Wire) -> None:
    p, addr = peer(
        wire, Reply([(0, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")], close=True)
    )
    (res,) = wire.exchange([GET], addr, 2)["responses"]
    assert (res["status"], unb64(res["body"]), res["closed"]) == (200, b"abc", True)
    assert "mid-body" in res["error"]


def test_latin1_value_and_reasonless_status(wire: Wire) -> None:
    raw_head = b"HTTP/1.1 200\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n"
    p, addr = peer(wire, raw_head)
    (res,) = wire.exchange([GET], addr, 2)["responses"]
    assert res["reason"] == "" and res["headers"][0] == ["X-Name", "café"]
    assert unb64(res["head_raw"]) == raw_head


def test_garbage_is_a_parse_error(wire: Wire) -> None:
    p, addr = peer(wire, Reply([(0, b"HELLO\r\n\r\n")], close=True))
    (res,) = wire.exchange([GET], addr, 2)["responses"]
    assert res["status"] is None and res["error"].startswith("parse error")
    assert unb64(res["head_raw"]) == b"HELLO\r\n\r\n"


def test_timeout_is_recorded_and_the_next_request_still_runs(wire: Wire) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    p, addr = peer(wire, Reply([]), ok)
    start = time.perf_counter()
    first, second = wire.exchange([GET, GET], addr, 0.2)["responses"]
    assert time.perf_counter() - start < 1.0
    assert "timeout" in first["error"] and first["status"] is None
    assert second["status"] == 200 and second["conn"] == 1


def test_refused_connection_is_an_error(wire: Wire) -> None:
    p, addr = peer(wire, b"")
    wire.call(_close_server(p))
    (res,) = wire.exchange([GET], addr, 1)["responses"]
    assert "connect" in res["error"] and res["conn"] is None


def test_request_bytes_are_exact(wire: Wire) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    p, addr = peer(wire, ok)
    requests = [
        {
            "method": "POST",
            "target": "/x?y",
            "headers": [["Host", "h"], ["X-CamelCase", "é"]],
            "framing": "content-length",
            "body": ["ab", {"data": {"$bytes": "/w=="}, "delay_ms": 30}],
        },
        {
            "method": "PUT",
            "target": "/c",
            "headers": [["host", "h"]],
            "framing": "chunked",
            "body": ["ab", "c"],
            "trailers": [["X-Sum", "3"]],
        },
        {"raw": tag_bytes(b"get / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx")},
    ]
    responses = wire.exchange(requests, addr, 2)["responses"]
    assert [r["status"] for r in responses] == [200, 200, 200]
    assert p.requests[:2] == [
        b"POST /x?y HTTP/1.1\r\nHost: h\r\nX-CamelCase: \xe9\r\nContent-Length: 3\r\n\r\nab\xff",
        b"PUT /c HTTP/1.1\r\nhost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\nX-Sum: 3\r\n\r\n",
    ]
    assert p.arrivals[0][-1] - p.arrivals[0][0] >= 0.025  # the delayed chunk came later
    assert p.requests[2] == b"get / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"


def test_close_after_head(wire: Wire) -> None:
    p, addr = peer(wire, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    req = {
        **GET,
        "method": "POST",
        "framing": "content-length",
        "body": ["abc"],
        "close_after_head": True,
    }
    (res,) = wire.exchange([req], addr, 2)["responses"]
    assert res["status"] is None and res["error"]
    time.sleep(0.02)
    assert p.requests == [b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"]


def test_server_closing_a_shared_connection_forces_a_new_one(wire: Wire) -> None:
    p, addr = peer(
        wire,
        Reply(
            [(0, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")], close=True
        ),
    )
    first, second = wire.exchange([{**GET, "conn": 0}, {**GET, "conn": 0}], addr, 2)["responses"]
    assert (first["conn"], first["closed"], second["conn"], second["status"]) == (0, True, 1, 200)
    assert p.connections == 2


def test_against_the_origin(wire: Wire) -> None:
    spec = {
        "interim": [{"status": 103, "headers": [["Link", "</x>"]]}],
        "framing": "chunked",
        "headers": [["X-Case", "Aa"]],
        "body": ["ab", "cd"],
        "trailers": [["X-T", "v"]],
    }
    with wire.origin([spec]) as origin:
        req = {
            **GET,
            "method": "POST",
            "framing": "chunked",
            "body": ["q"],
            "trailers": [["X-Q", "1"]],
        }
        (res,) = wire.exchange([req], [("127.0.0.1", origin.port)], 2)["responses"]
        (seen,) = origin.recording()["requests"]
    assert res["interim"] == [
        {"status": 103, "reason": "Early Hints", "headers": [["Link", "</x>"]]}
    ]
    assert res["headers"] == [["X-Case", "Aa"], ["Transfer-Encoding", "chunked"]]
    assert (unb64(res["body"]), res["trailers"]) == (b"abcd", [["X-T", "v"]])
    assert (unb64(seen["body"]), seen["trailers"], seen["framing"]) == (
        b"q",
        [["X-Q", "1"]],
        "chunked",
    )


def test_pipelined_raw_requests_read_with_an_empty_follow_up(wire: Wire) -> None:
    with wire.origin([{"body": ["1"]}, {"body": ["2"]}]) as origin:
        two = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        requests = [{"raw": tag_bytes(two), "conn": 0}, {"raw": tag_bytes(b""), "conn": 0}]
        first, second = wire.exchange(requests, [("127.0.0.1", origin.port)], 2)["responses"]
        seen = origin.recording()
    assert (unb64(first["body"]), unb64(second["body"]), second["conn"]) == (b"1", b"2", 0)
    assert [r["target"] for r in seen["requests"]] == ["/a", "/b"] and seen["connections"] == 1


def test_a_read_only_entry_after_a_half_close_writes_nothing(wire: Wire) -> None:
    """An empty `raw` after a pipelined half-close (server.timeouts.pipelined-then-half-close)
    only reads: a write after the half-close would fail (asyncio's write(b"") after
    write_eof() raised, and came out of the exchange as ERROR)."""
    with wire.origin([{"body": ["1"]}, {"body": ["2"]}]) as origin:
        two = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        requests = [{"raw": tag_bytes(two), "conn": 0, "half_close": True}, {"raw": tag_bytes(b""), "conn": 0}]
        first, second = wire.exchange(requests, [("127.0.0.1", origin.port)], 2)["responses"]
    assert (unb64(first["body"]), unb64(second["body"])) == (b"1", b"2")
    assert (first["error"], second["error"], second["conn"]) == (None, None, 0)


def test_body_parts_go_out_after_an_early_reply_before_the_connection_is_reused(wire: Wire) -> None:
    """A server that answers on the head, before the body is done: the delayed parts still
    go out, each after its delay, before the next request on the connection."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    seen: list[tuple[float, bytes]] = []

    async def early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((time.perf_counter(), await reader.readuntil(b"\r\n\r\n")))
        writer.write(ok)  # on the head alone
        while data := await reader.read(65536):
            seen.append((time.perf_counter(), data))
            if data.endswith(b"\r\n\r\n"):
                writer.write(ok)  # the second request
        writer.close()

    server = wire.call(_start(early))
    try:
        slow = {**GET, "method": "POST", "conn": 0, "framing": "content-length",
                "body": ["a", {"data": "b", "delay_ms": 40}, {"data": "c", "delay_ms": 40}]}
        addr = [("127.0.0.1", server.sockets[0].getsockname()[1])]
        first, second = wire.exchange([slow, {**GET, "conn": 0}], addr, 2)["responses"]
    finally:
        server.close()
    assert (first["status"], second["status"], second["conn"]) == (200, 200, 0)
    sent = b"".join(data for _, data in seen)
    assert sent.index(b"abc") < sent.index(b"GET /")  # the body, then the next request
    assert seen[-1][0] - seen[0][0] >= 0.07  # two 40 ms delays


async def _start(handler: Any) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0)
