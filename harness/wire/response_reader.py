"""Read one response (interim 1xx heads, then the final head and body) off a raw connection."""

from __future__ import annotations

import asyncio

from harness.vocabulary import timing

from .chunked import ChunkedDecoder
from .clock import Clock
from .heads import (
    MAX_HEAD_BYTES,
    StatusHead,
    content_length,
    field_tokens,
    find_head_end,
    parse_status_head,
    skip_leading_empty_lines,
)
from .response_record import ResponseRecord

READ_SIZE = 65536


class Connection:
    """One raw client connection, with bytes read but not consumed yet."""

    def __init__(
        self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.index = index
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        self.usable = True  # False once the connection cannot carry another exchange
        # The last response announced a close: no new request may go out, but replies to
        # requests pipelined before it may still follow (e.g. 503s past maxRequestsPerSocket).
        self.closing = False

    async def read(self) -> bytes:
        """The next bytes off the socket; b"" at EOF or on a reset."""
        if self.eof:
            return b""
        try:
            data = await self.reader.read(READ_SIZE)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.eof = True
        return data

    def close(self) -> None:
        self.usable = False
        self.writer.close()


def response_framing(method: str, head: StatusHead) -> tuple[str, int]:
    """("none" | "chunked" | "content-length" | "close", length) per RFC 9112 6.3."""
    if method == "HEAD" or 100 <= head.status < 200 or head.status in (204, 304):
        return "none", 0
    if method == "CONNECT" and 200 <= head.status < 300:
        return "none", 0  # a tunnel follows, not a body
    codings = field_tokens(head.fields, "transfer-encoding")
    if codings:
        return ("chunked", 0) if codings[-1] == "chunked" else ("close", 0)
    length = content_length(head.fields)  # ValueError if unusable
    return ("close", 0) if length is None else ("content-length", length)


def announces_close(head: StatusHead) -> bool:
    tokens = field_tokens(head.fields, "connection")
    return "close" in tokens or (head.version == "1.0" and "keep-alive" not in tokens)


async def _read_head(conn: Connection) -> bytes | None:
    while True:
        skip_leading_empty_lines(conn.buf)
        end = find_head_end(conn.buf)
        if end is not None:
            head = bytes(conn.buf[:end])
            del conn.buf[:end]
            return head
        if len(conn.buf) > MAX_HEAD_BYTES:
            return None
        data = await conn.read()
        if not data:
            return None
        conn.buf += data


async def read_response(conn: Connection, method: str, rec: ResponseRecord, clock: Clock) -> None:
    """Fill `rec` in place, so that whatever arrived survives a timeout (cancellation)."""
    while True:
        raw = await _read_head(conn)
        if raw is None:
            conn.usable = False
            rec.closed = conn.eof
            rec.head_raw = bytes(conn.buf)
            rec.error = (
                f"connection closed before a complete response head ({len(conn.buf)} bytes received)"
                if conn.eof
                else "response head too large"
            )
            return
        try:
            head = parse_status_head(raw)
        except ValueError as e:
            conn.usable = False
            rec.head_raw = raw
            rec.error = f"parse error: {e}"
            return
        if 100 <= head.status < 200 and head.status != 101:
            rec.interim.append(
                {"status": head.status, "reason": head.reason, "headers": head.fields}
            )
            continue
        break
    rec.t_head = clock.ms()
    rec.version, rec.status, rec.reason = head.version, head.status, head.reason
    rec.headers, rec.head_raw = head.fields, raw
    try:
        rec.framing, length = response_framing(method, head)
    except ValueError as e:
        conn.usable = False
        rec.error = f"parse error: {e}"
        return
    if head.status == 101 or (method == "CONNECT" and 200 <= head.status < 300):
        await _read_tunnel(conn, rec)  # the connection now carries another protocol
        return
    if rec.framing == "content-length":
        await _read_sized(conn, rec, length, clock)
    elif rec.framing == "chunked":
        await _read_chunked(conn, rec, clock)
    elif rec.framing == "close":
        await _read_to_close(conn, rec, clock)
    if rec.error or rec.framing == "close":
        return
    if announces_close(head):
        conn.usable = False
        conn.closing = True
        await _await_close(conn)
    elif not conn.buf:
        await asyncio.sleep(0)  # a FIN that already arrived shows up as at_eof()
        conn.eof = conn.eof or conn.reader.at_eof()
    rec.closed = conn.eof and not conn.buf


async def _read_sized(conn: Connection, rec: ResponseRecord, length: int, clock: Clock) -> None:
    left, t = length, clock.ms()
    while left:
        if not conn.buf:
            data = await conn.read()
            if not data:
                _closed_mid_body(conn, rec, f"{length - left} of {length} body bytes")
                return
            conn.buf += data
            t = clock.ms()
        take = bytes(conn.buf[:left])
        del conn.buf[: len(take)]
        rec.add_body(take, t)
        left -= len(take)


async def _read_chunked(conn: Connection, rec: ResponseRecord, clock: Clock) -> None:
    decoder = ChunkedDecoder()
    data, t = bytes(conn.buf), clock.ms()
    conn.buf.clear()
    while True:
        rec.add_body(decoder.feed(data), t)
        if decoder.done:
            rec.trailers = decoder.trailers
            conn.buf += decoder.leftover
            return
        if decoder.error:
            conn.usable = False
            rec.error = f"parse error: {decoder.error}"
            return
        data, t = await conn.read(), clock.ms()
        if not data:
            _closed_mid_body(conn, rec, "chunked body")
            return


async def _read_to_close(conn: Connection, rec: ResponseRecord, clock: Clock) -> None:
    data, t = bytes(conn.buf), clock.ms()
    conn.buf.clear()
    if not data:  # the body may come in a later read than the head
        data, t = await conn.read(), clock.ms()
    while data:
        rec.add_body(data, t)
        data, t = await conn.read(), clock.ms()
    conn.usable = False
    rec.closed = True


async def _read_tunnel(conn: Connection, rec: ResponseRecord) -> None:
    """Record every byte after the head until the server closes (filled in place, so a
    timeout keeps what arrived)."""
    conn.usable = False
    rec.tunnel = bytearray(conn.buf)
    conn.buf.clear()
    while data := await conn.read():
        rec.tunnel += data
    rec.closed = True


async def _await_close(conn: Connection) -> None:
    """Wait (briefly: fin_wait_ms) for the FIN a `Connection: close` response promised."""
    try:
        while not conn.buf and not conn.eof:
            data = await asyncio.wait_for(conn.read(), timing("fin_wait_ms") / 1000)
            conn.buf += data
    except TimeoutError:
        pass


def _closed_mid_body(conn: Connection, rec: ResponseRecord, what: str) -> None:
    conn.usable = False
    rec.closed = True
    rec.error = f"connection closed mid-body ({what} received)"
