"""Read one response (interim 1xx heads, then the final head and body) off a raw connection."""

from __future__ import annotations

import math
import select
import socket
import time
from collections import deque

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
    """One raw client connection: a non-blocking socket, the bytes read but not consumed
    yet, and the request bytes still to go out (body parts due after a delay). Reads wait
    with poll() on the caller's thread and send what falls due meanwhile: no event loop
    (an asyncio exchange cost 0.35 ms against node where this costs 0.09, measured)."""

    def __init__(self, index: int, sock: socket.socket) -> None:
        self.index = index
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.usable = True  # False once the connection cannot carry another exchange
        # The last response announced a close: no new request may go out, but replies to
        # requests pipelined before it may still follow (e.g. 503s past maxRequestsPerSocket).
        self.closing = False
        self.deadline = math.inf  # the current request's (time.monotonic): waits end there
        self._out = bytearray()  # due, not taken by the socket yet
        self._later: deque[tuple[float, bytes]] = deque()  # (delay after the previous part, bytes)
        self._due = 0.0  # when _later's first part falls due
        self._half_close = False  # shut the write side down once everything went out
        self._closed = False

    def send(self, data: bytes, later: list[tuple[float, bytes]], half_close: bool) -> None:
        """Queue `data` now, each of `later` after its delay, then the half-close if asked."""
        self._out += data
        self._later.extend(later)
        self._due = time.monotonic() + (self._later[0][0] if self._later else 0.0)
        self._half_close = half_close
        self._pump()

    @property
    def sending(self) -> bool:
        return bool(self._out or self._later or self._half_close)

    def drop_unsent(self) -> None:
        self._out.clear()
        self._later.clear()
        self._half_close = False

    def _pump(self) -> None:
        """Write what is due, as far as the socket takes it; a write error ends the sending."""
        try:
            while True:
                if self._later and not self._out and time.monotonic() >= self._due:
                    self._out += self._later.popleft()[1]
                    self._due = time.monotonic() + (self._later[0][0] if self._later else 0.0)
                if not self._out:
                    break
                sent = self.sock.send(self._out)
                del self._out[:sent]
            if self._half_close and not self._later:
                self._half_close = False
                self.sock.shutdown(socket.SHUT_WR)
        except BlockingIOError:
            pass
        except OSError:  # reset, closed: nothing more goes out
            self.drop_unsent()

    def _wait(self, limit: float, readable: bool) -> None:
        """Block until the socket can be read (if `readable`) or written (pending bytes), or
        the next part falls due; TimeoutError once `limit` has passed."""
        now = time.monotonic()
        if now >= limit:
            raise TimeoutError
        until = min(limit, self._due) if self._later and not self._out else limit
        mask = (select.POLLIN if readable else 0) | (select.POLLOUT if self._out else 0)
        poller = select.poll()
        if mask:
            poller.register(self.sock, mask)
        poller.poll(max(0, math.ceil((until - now) * 1000)))

    def read(self, within: float = math.inf) -> bytes:
        """The next bytes off the socket; b"" at EOF or on a reset. Waits at most `within`
        seconds and never past the deadline (TimeoutError)."""
        if self.eof:
            return b""
        limit = min(self.deadline, time.monotonic() + within)
        while True:
            self._pump()
            data = self._recv()
            if data is not None:
                return data
            self._wait(limit, readable=True)

    def arrived_eof(self) -> bool:
        """Whether a FIN is already here (read without waiting; bytes that came instead are
        kept in buf)."""
        if not self.eof and not self.buf:
            self.buf += self._recv() or b""
        return self.eof

    def _recv(self) -> bytes | None:
        """What the socket holds now (b"" at EOF or on a reset, which set eof); None: nothing yet."""
        try:
            data = self.sock.recv(READ_SIZE)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            self.eof = True
        return data

    def flush(self) -> None:
        """Send the rest of the request (its body came slower than the response); TimeoutError
        at the deadline."""
        while self.sending:
            self._pump()
            if self.sending:
                self._wait(self.deadline, readable=False)

    def close(self) -> None:
        self.usable = False
        self.drop_unsent()
        if not self._closed:
            self._closed = True
            self.sock.close()


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


def _read_head(conn: Connection) -> bytes | None:
    while True:
        skip_leading_empty_lines(conn.buf)
        end = find_head_end(conn.buf)
        if end is not None:
            head = bytes(conn.buf[:end])
            del conn.buf[:end]
            return head
        if len(conn.buf) > MAX_HEAD_BYTES:
            return None
        data = conn.read()
        if not data:
            return None
        conn.buf += data


def read_response(conn: Connection, method: str, rec: ResponseRecord, clock: Clock) -> None:
    """Fill `rec` in place, so that whatever arrived survives a timeout (TimeoutError from a
    read at the connection's deadline)."""
    while True:
        raw = _read_head(conn)
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
        _read_tunnel(conn, rec)  # the connection now carries another protocol
        return
    if rec.framing == "content-length":
        _read_sized(conn, rec, length, clock)
    elif rec.framing == "chunked":
        _read_chunked(conn, rec, clock)
    elif rec.framing == "close":
        _read_to_close(conn, rec, clock)
    if rec.error or rec.framing == "close":
        return
    if announces_close(head):
        conn.usable = False
        conn.closing = True
        _await_close(conn)
    elif not conn.buf:
        conn.arrived_eof()  # a FIN already here shows in `closed`
    rec.closed = conn.eof and not conn.buf


def _read_sized(conn: Connection, rec: ResponseRecord, length: int, clock: Clock) -> None:
    left, t = length, clock.ms()
    while left:
        if not conn.buf:
            data = conn.read()
            if not data:
                _closed_mid_body(conn, rec, f"{length - left} of {length} body bytes")
                return
            conn.buf += data
            t = clock.ms()
        take = bytes(conn.buf[:left])
        del conn.buf[: len(take)]
        rec.add_body(take, t)
        left -= len(take)


def _read_chunked(conn: Connection, rec: ResponseRecord, clock: Clock) -> None:
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
        data, t = conn.read(), clock.ms()
        if not data:
            _closed_mid_body(conn, rec, "chunked body")
            return


def _read_to_close(conn: Connection, rec: ResponseRecord, clock: Clock) -> None:
    data, t = bytes(conn.buf), clock.ms()
    conn.buf.clear()
    if not data:  # the body may come in a later read than the head
        data, t = conn.read(), clock.ms()
    while data:
        rec.add_body(data, t)
        data, t = conn.read(), clock.ms()
    conn.usable = False
    rec.closed = True


def _read_tunnel(conn: Connection, rec: ResponseRecord) -> None:
    """Record every byte after the head until the server closes (filled in place, so a
    timeout keeps what arrived)."""
    conn.usable = False
    rec.tunnel = bytearray(conn.buf)
    conn.buf.clear()
    while data := conn.read():
        rec.tunnel += data
    rec.closed = True


def _await_close(conn: Connection) -> None:
    """Wait (briefly: fin_wait_ms) for the FIN a `Connection: close` response promised."""
    try:
        conn.buf += conn.read(timing("fin_wait_ms") / 1000)  # b"" (the FIN) sets eof
    except TimeoutError:
        if time.monotonic() >= conn.deadline:  # the request's own timeout, not the FIN's
            raise


def _closed_mid_body(conn: Connection, rec: ResponseRecord, what: str) -> None:
    conn.usable = False
    rec.closed = True
    rec.error = f"connection closed mid-body ({what} received)"
