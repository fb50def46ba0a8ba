"""The scripted origin: exact bytes out, exact recording in (checked with plain sockets)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import h11
import pytest
from origin_threads import record_serving_threads

from harness.wire import Wire, tag_bytes, to_bytes


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    with Wire() as w:
        yield w


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=3)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            break
        data += more
    return data


def recv_until_eof(sock: socket.socket) -> bytes:
    data = b""
    while more := sock.recv(65536):
        data += more
    return data


def unb64(tagged: dict) -> bytes:
    return base64.b64decode(tagged["$bytes"])


def test_records_chunked_request_exactly(wire: Wire) -> None:
    head = b"POST /x HTTP/1.1\r\nHost: a\r\nX-CamelCase: V\r\nTransfer-Encoding: chunked\r\n\r\n"
    with wire.origin([{"body": ["ok"]}]) as origin, connect(origin.port) as s:
        s.sendall(head + b"2\r\nab\r\n0\r\nX-T: 1\r\n\r\n")
        assert recv_exactly(s, 40) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        rec = origin.recording()
    assert rec["connections"] == 1
    (req,) = rec["requests"]
    assert (req["method"], req["target"], req["version"], req["conn"]) == ("POST", "/x", "1.1", 0)
    assert req["headers"] == [["Host", "a"], ["X-CamelCase", "V"], ["Transfer-Encoding", "chunked"]]
    assert req["framing"] == "chunked"
    assert unb64(req["body"]) == b"ab"
    assert req["trailers"] == [["X-T", "1"]]
    assert unb64(req["head_raw"]) == head
    assert req["complete"] is True
    assert [c["len"] for c in req["body_chunks"]] == [2]


def test_records_each_connections_peer_address_and_port(wire: Wire) -> None:
    with wire.origin([{}]) as origin:
        for _ in range(2):
            with connect(origin.port) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                local = s.getsockname()
                recv_until_eof(s)
                rec = origin.recording()
            assert rec["requests"][-1]["peer"] == {"address": local[0], "port": local[1]}
    assert [r["conn"] for r in rec["requests"]] == [0, 1]


def test_writes_the_header_list_exactly(wire: Wire) -> None:
    headers = [
        ["X-CamelCase", "a"],
        ["x-dup", "1"],
        ["X-Dup", "2"],
        ["Set-Cookie", "a=1"],
        ["Set-Cookie", "b=2"],
        ["X-Latin", "café"],
        ["X-Raw", {"$bytes": "/w=="}],
    ]
    expected = (
        b"HTTP/1.1 201 Made\r\nX-CamelCase: a\r\nx-dup: 1\r\nX-Dup: 2\r\nSet-Cookie: a=1\r\n"
        b"Set-Cookie: b=2\r\nX-Latin: caf\xe9\r\nX-Raw: \xff\r\nContent-Length: 5\r\n\r\nhello"
    )
    spec = {
        "status": 201,
        "reason": "Made",
        "headers": headers,
        "body": [{"data": "hello", "delay_ms": 0}],
    }
    with wire.origin([spec]) as origin, connect(origin.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        got = recv_exactly(s, len(expected))
    assert got == expected
    # An independent parser (h11) reads the same names, in the same case and order.
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
    client.receive_data(got)
    response = client.next_event()
    assert isinstance(response, h11.Response)
    assert [n for n, _ in response.headers.raw_items()][:3] == [b"X-CamelCase", b"x-dup", b"X-Dup"]
    assert client.next_event() == h11.Data(data=b"hello")


def test_status_line_without_reason_and_explicit_framing_header(wire: Wire) -> None:
    spec = {"reason": None, "headers": [["content-length", "2"]], "body": ["hi"]}
    expected = b"HTTP/1.1 200\r\ncontent-length: 2\r\n\r\nhi"
    with wire.origin([spec]) as origin, connect(origin.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_exactly(s, len(expected)) == expected


def test_chunk_delay_flushes_the_first_chunk_early(wire: Wire) -> None:
    spec = {
        "framing": "chunked",
        "trailers": [["X-Checksum", "123"]],
        "body": [{"data": "first", "delay_ms": 0}, {"data": "second", "delay_ms": 250}],
    }
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    with wire.origin([spec]) as origin, connect(origin.port) as s:
        start = time.perf_counter()
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        first = recv_exactly(s, len(head) + 10)
        t_first = time.perf_counter() - start
        rest = recv_exactly(s, len(b"6\r\nsecond\r\n0\r\nX-Checksum: 123\r\n\r\n"))
        t_rest = time.perf_counter() - start
    assert first == head + b"5\r\nfirst\r\n"
    assert rest == b"6\r\nsecond\r\n0\r\nX-Checksum: 123\r\n\r\n"
    assert t_first < 0.15 <= 0.2 <= t_rest


def test_interim_responses_come_first(wire: Wire) -> None:
    spec = {
        "interim": [
            {"status": 103, "reason": "Early Hints", "headers": [["Link", "</a.css>; rel=preload"]]}
        ],
        "body": ["x"],
    }
    expected = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
    )
    with wire.origin([spec]) as origin, connect(origin.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_exactly(s, len(expected)) == expected


def test_100_continue_goes_out_before_the_body_is_awaited(wire: Wire) -> None:
    spec = {"interim": [{"status": 100}], "read_body": True, "body": ["done"]}
    with wire.origin([spec]) as origin, connect(origin.port) as s:
        s.sendall(
            b"PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
        )
        assert recv_exactly(s, 25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"abc")
        assert recv_exactly(s, 42) == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"
        (req,) = origin.recording()["requests"]
    assert unb64(req["body"]) == b"abc" and req["framing"] == "content-length"


def test_close_delimited_framing(wire: Wire) -> None:
    spec = {"version": "1.0", "framing": "close", "headers": [["X-A", "1"]], "body": ["abc", "def"]}
    with wire.origin([spec]) as origin, connect(origin.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_until_eof(s) == b"HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nabcdef"


def test_close_before_response(wire: Wire) -> None:
    with wire.origin([{"action": "close"}]) as origin, connect(origin.port) as s:
        s.sendall(b"GET /gone HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_until_eof(s) == b""
        assert origin.recording()["requests"][0]["target"] == "/gone"


def test_close_mid_body(wire: Wire) -> None:
    spec = {"body": ["hello", " world"], "close_after_body_bytes": 7}
    with wire.origin([spec]) as origin, connect(origin.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_until_eof(s) == b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello w"


def test_close_mid_chunk(wire: Wire) -> None:
    spec = {"framing": "chunked", "body": ["hello"], "close_after_body_bytes": 2}
    with wire.origin([spec]) as origin, connect(origin.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_until_eof(s) == b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe"


def test_raw_action(wire: Wire) -> None:
    raw = b"HTTP/1.1 200\r\nX: \xe9\r\n\r\nwhatever"
    with (
        wire.origin([{"action": "raw", "raw": tag_bytes(raw)}]) as origin,
        connect(origin.port) as s,
    ):
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_until_eof(s) == raw


def test_keep_alive_and_response_order(wire: Wire) -> None:
    responses = [{"body": ["one"]}, {"status": 404, "body": ["two"]}]
    r1 = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
    r2 = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\ntwo"
    with wire.origin(responses) as origin, connect(origin.port) as s:
        s.sendall(b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        assert recv_exactly(s, len(r1)) == r1
        for n in (2, 3):  # the last response repeats
            s.sendall(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % n)
            assert recv_exactly(s, len(r2)) == r2
        rec = origin.recording()
    assert rec["connections"] == 1
    assert [(r["target"], r["conn"], r["framing"]) for r in rec["requests"]] == [
        ("/1", 0, "content-length"),
        ("/2", 0, "none"),
        ("/3", 0, "none"),
    ]
    assert unb64(rec["requests"][0]["body"]) == b"hi"
    assert rec["requests"][0]["t"] <= rec["requests"][1]["t"] <= rec["requests"][2]["t"]


def test_connection_close_request_ends_the_connection(wire: Wire) -> None:
    with wire.origin([{}]) as origin, connect(origin.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert recv_until_eof(s) == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def test_unframed_get_body_then_next_request(wire: Wire) -> None:
    r = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with wire.origin([{}]) as origin, connect(origin.port) as s:
        s.sendall(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nabc")  # Node 20: a GET body goes out raw
        assert recv_exactly(s, len(r)) == r
        s.sendall(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_exactly(s, len(r)) == r
        first, second = origin.recording()["requests"]
    assert (first["framing"], unb64(first["body"]), first["complete"]) == ("none", b"abc", True)
    assert (second["target"], unb64(second["body"])) == ("/2", b"")


def test_unframed_body_with_newline_is_not_a_request(wire: Wire) -> None:
    with wire.origin([{}]) as origin, connect(origin.port) as s:
        s.sendall(b"DELETE /1 HTTP/1.1\r\nHost: a\r\n\r\n")
        recv_exactly(s, 38)
        s.sendall(b"x=1\r\ny=2")
        time.sleep(0.1)  # past the grace period
        (req,) = origin.recording()["requests"]
    assert unb64(req["body"]) == b"x=1\r\ny=2"


def test_read_body_false_answers_before_the_body(wire: Wire) -> None:
    r = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with wire.origin([{"read_body": False}]) as origin, connect(origin.port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n")
        assert recv_exactly(s, len(r)) == r
        s.sendall(b"abc")
        time.sleep(0.02)
        s.sendall(b"def")
        deadline = time.monotonic() + 2
        while (
            not (req := origin.recording()["requests"][0])["complete"]
            and time.monotonic() < deadline
        ):
            time.sleep(0.005)
    assert unb64(req["body"]) == b"abcdef"
    assert [c["len"] for c in req["body_chunks"]] == [3, 3]


def test_client_gone_mid_body_is_incomplete(wire: Wire) -> None:
    with wire.origin([{}]) as origin:
        with connect(origin.port) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
            time.sleep(0.02)
        time.sleep(0.02)
        (req,) = origin.recording()["requests"]
    assert (req["complete"], unb64(req["body"])) == (False, b"abc")


def test_head_request_gets_head_only(wire: Wire) -> None:
    r = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
    with wire.origin([{"body": ["body"]}]) as origin, connect(origin.port) as s:
        s.sendall(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_exactly(s, len(r)) == r
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_exactly(s, len(r) + 4) == r + b"body"


def test_close_ends_listener_and_connections(wire: Wire) -> None:
    origin = wire.origin([{}])
    s = connect(origin.port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    recv_exactly(s, 38)
    origin.close()
    try:
        assert s.recv(10) == b""
    except ConnectionResetError:
        pass
    s.close()
    with pytest.raises(ConnectionRefusedError):
        connect(origin.port)
    origin.close()  # idempotent


def test_concurrent_origins_keep_their_own_recordings(wire: Wire) -> None:
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            with wire.origin([{"body": [str(i)]}]) as origin, connect(origin.port) as s:
                s.sendall(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
                assert recv_exactly(s, 39)[-1:] == str(i).encode()
                assert [r["target"] for r in origin.recording()["requests"]] == [f"/{i}"]
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_bad_script_is_rejected_up_front(wire: Wire) -> None:
    with pytest.raises(ValueError):
        wire.origin([{"action": "dance"}])


def test_codec_round_trip() -> None:
    assert to_bytes("é") == "é".encode()
    assert to_bytes(tag_bytes(b"\x00\xff")) == b"\x00\xff"
    assert to_bytes(None) == b""


def test_unsettled_bytes_show_as_body_at_once(wire: Wire) -> None:
    with wire.origin([{}]) as origin, connect(origin.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nab")  # "ab" could still be a method name
        recv_exactly(s, 38)
        (req,) = origin.recording()["requests"]
    assert unb64(req["body"]) == b"ab" and req["body_chunks"][0]["len"] == 2


def test_bytes_beyond_content_length_are_kept(wire: Wire) -> None:
    with wire.origin([{}]) as origin, connect(origin.port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nabcdef\r\n")
        recv_exactly(s, 38)
        (req,) = origin.recording()["requests"]
    assert (req["framing"], unb64(req["body"])) == ("content-length", b"abcdef\r\n")


def test_the_origin_writes_without_nagle() -> None:
    """A reply written in parts (head, then body) must not wait for a delayed ACK: the
    accepted sockets have TCP_NODELAY (asyncio sets it only for IPPROTO_TCP listeners)."""
    import asyncio
    import socket

    from harness.wire.origin import OriginServer

    async def accepted_nodelay() -> int:
        origin = OriginServer([{}])
        await origin.start(origin.listen())
        _reader, writer = await asyncio.open_connection("127.0.0.1", origin.port)
        for _ in range(100):
            if origin._writers:
                break
            await asyncio.sleep(0.01)
        sock = next(iter(origin._writers)).get_extra_info("socket")
        value = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        await origin.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0


# --- an origin on the loop of the target that runs the scenario (harness/targets/runtime/serving.py)


@contextlib.contextmanager
def loop_on_a_thread() -> Iterator[tuple[asyncio.AbstractEventLoop, threading.Thread]]:
    """A running loop of another thread's, as impl's reference runs on; stopped and closed after."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop, thread
    finally:
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def get_once(port: int, path: str) -> None:
    with connect(port) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
        assert recv_until_eof(s).startswith(b"HTTP/1.1 200")


def test_an_origin_on_another_threads_loop_is_served_there_and_finished_from_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    served_on = record_serving_threads(monkeypatch)
    with loop_on_a_thread() as (loop, thread), Wire() as w:
        origin = w.origin([{"status": 200, "body": "ok"}], loop)
        get_once(origin.port, "/x")
        record = origin.finish()
        assert [r["target"] for r in record["requests"]] == ["/x"]
        assert served_on == [thread.ident]


# The finish scheduled on the stopped loop is never run: closing that loop says so.
@pytest.mark.filterwarnings("ignore:coroutine '_snapshot_and_close' was never awaited:RuntimeWarning")
def test_an_origin_whose_loop_stopped_still_finishes_with_what_it_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A target loop the watchdog abandoned never answers: finish gives up after HOSTED_CALL_S,
    returns the recording and closes the listener itself."""
    from harness.wire import background

    monkeypatch.setattr(background, "HOSTED_CALL_S", 0.2)
    with loop_on_a_thread() as (loop, thread), Wire() as w:
        origin = w.origin([{"status": 200, "body": "ok"}], loop)
        get_once(origin.port, "/y")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        started = time.monotonic()
        record = origin.finish()
        assert time.monotonic() - started < 2.0
        assert [r["target"] for r in record["requests"]] == ["/y"]
        with pytest.raises(OSError):
            connect(origin.port).close()


# --- an origin on an idle loop of the caller's (node, bun, deno, workerd: ProcessTarget.origin_loop)


def serve_while(loop: asyncio.AbstractEventLoop, client: threading.Thread) -> None:
    """What a target's wait does: run the loop until the runtime (here a thread) is done."""
    client.start()
    while client.is_alive():
        loop.run_until_complete(asyncio.sleep(0.005))


def test_an_origin_on_an_idle_loop_starts_on_its_next_turn_and_finish_drops_its_connections() -> None:
    """origin() runs nothing on the loop (its start waits for the target's wait); finish()
    closes the listener and drops a connection still open without waiting for its tasks,
    which drain() ends before the loop closes."""
    from harness.targets.runtime.serving import drain

    loop = asyncio.new_event_loop()
    kept: list[socket.socket] = []

    def keep_alive_client(port: int) -> None:
        s = connect(port)
        s.sendall(b"GET /k HTTP/1.1\r\nHost: a\r\n\r\n")
        assert recv_exactly(s, 12) == b"HTTP/1.1 200"
        kept.append(s)  # left open: the origin's connection tasks are still waiting at finish()

    try:
        with Wire() as w:
            origin = w.origin([{"status": 200, "body": "ok"}], loop)
            assert [t.done() for t in asyncio.all_tasks(loop)] == [False]  # start(), scheduled only
            serve_while(loop, threading.Thread(target=keep_alive_client, args=(origin.port,)))
            assert len(asyncio.all_tasks(loop)) == 2  # the connection's reader and writer
            record = origin.finish()
            assert [r["target"] for r in record["requests"]] == ["/k"]
            with pytest.raises(OSError):
                connect(origin.port).close()
            drain(loop)
            assert not asyncio.all_tasks(loop)
            with contextlib.suppress(ConnectionResetError):
                assert recv_until_eof(kept[0]).startswith(b" OK")  # the rest of the reply, then EOF
    finally:
        for s in kept:
            s.close()
        loop.close()


def test_an_origin_on_an_idle_loop_that_never_turned_finishes_empty_and_closed() -> None:
    """A target that failed before waiting: finish() runs the pending start itself, then stops."""
    loop = asyncio.new_event_loop()
    try:
        with Wire() as w:
            origin = w.origin([{"status": 200}], loop)
            started = time.monotonic()
            assert origin.finish() == {"connections": 0, "requests": []}
            assert time.monotonic() - started < 2.0
            with pytest.raises(OSError):
                connect(origin.port).close()
    finally:
        loop.close()
