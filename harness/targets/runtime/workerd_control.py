"""The workerd target's control client: HTTP/1.1 to the worker's control socket.

A minimal client on one keep-alive connection, for one peer (harness/drivers/workerd/
worker.mjs). Why not httpx: a control request through httpx cost about 0.6 ms of the
harness's CPU, this about 0.1 ms, and a server scenario makes one or two of them per
example. It also does what httpx's API cannot: a full-duplex request (:meth:`ControlClient.
stream`) whose chunked body stays open while its answer streams back, so the harness tells
the worker "the exchange is done" on the request that is already open instead of making
another round trip.

It reads what the worker sends: a status line, headers, a body framed by Content-Length
or chunked (parsed by the wire's own head parser and chunked decoder). Every failure is an OSError: TimeoutError when a read or write takes longer
than the timeout, ConnectionError when workerd closes the connection, ControlError for an
answer it cannot parse. After a failure the connection is closed, never reused.
"""

from __future__ import annotations

import asyncio
import select
import socket
from types import TracebackType

from harness.targets.runtime.serving import wait_readable
from harness.wire.chunked import ChunkedDecoder, encode_chunk, encode_last_chunk
from harness.wire.heads import content_length, field_tokens, parse_status_head

_HEAD_LIMIT = 64 * 1024


class ControlError(OSError):
    """workerd's answer is not HTTP this client understands."""


class ControlConnection:
    """One TCP connection with a read buffer."""

    def __init__(self, address: tuple[str, int], timeout: float) -> None:
        self.sock = socket.create_connection(address, timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.reusable = True
        self.serving: asyncio.AbstractEventLoop | None = None  # run while waiting (serving.py)

    def settimeout(self, timeout: float) -> None:
        self.sock.settimeout(timeout)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def fill(self) -> None:
        if self.serving is not None and not wait_readable(self.sock.fileno(), self.sock.gettimeout() or 0.0,
                                                           self.serving):
            raise TimeoutError("timed out")
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("workerd closed the control connection")
        self.buf += data

    def read_until(self, sep: bytes, limit: int = _HEAD_LIMIT) -> bytes:
        """Bytes up to and including sep."""
        while (end := self.buf.find(sep)) < 0:
            if len(self.buf) > limit:
                raise ControlError(f"control answer: no {sep!r} within {limit} bytes")
            self.fill()
        end += len(sep)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def stale(self) -> bool:
        """An idle connection with something to read has been closed (or broken) by workerd."""
        if self.buf:
            return True
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def close(self) -> None:
        self.reusable = False
        self.sock.close()


class _Body:
    """The body of one answer, read as its framing says (the wire's head parser and
    chunked decoder: harness/wire/heads.py, chunked.py)."""

    def __init__(self, conn: ControlConnection) -> None:
        self.conn = conn
        raw = conn.read_until(b"\r\n\r\n")
        try:
            head = parse_status_head(raw)
        except ValueError:
            line = raw.split(b"\r\n")[0]
            raise ControlError(f"control answer: bad status line {line!r}") from None
        try:
            length = content_length(head.fields)
        except ValueError as exc:
            raise ControlError(f"control answer: {exc}") from None
        self.status = head.status
        self.chunked = "chunked" in field_tokens(head.fields, "transfer-encoding")
        self.decoder = ChunkedDecoder()
        self.left = None if self.chunked else length
        if self.left is None and not self.chunked:  # framed by the connection's end: not reusable
            conn.reusable = False
        if "close" in field_tokens(head.fields, "connection"):
            conn.reusable = False
        self.done = False

    def piece(self) -> bytes:
        """The next piece of the body; b"" once it is complete."""
        if self.done:
            return b""
        if not self.chunked:
            self.done = True
            if self.left is not None:
                return self.conn.read_exact(self.left)
            try:  # no framing: the body ends with the connection
                while True:
                    self.conn.fill()
            except ConnectionError:
                pass
            data = bytes(self.conn.buf)
            self.conn.buf.clear()
            return data
        while True:
            data = self.decoder.feed(self.conn.buf)
            self.conn.buf.clear()
            if self.decoder.error:
                raise ControlError(f"control answer: {self.decoder.error}")
            if self.decoder.done:
                self.conn.buf += self.decoder.leftover  # the start of the next answer, if any
                self.done = True
                return data
            if data:
                return data
            self.conn.fill()

    def read(self) -> bytes:
        out = bytearray()
        while piece := self.piece():
            out += piece
        return bytes(out)


class ControlStream:
    """An open full-duplex request: read the answer's lines, send more of the body, end it."""

    def __init__(self, client: ControlClient, conn: ControlConnection) -> None:
        self._client = client
        self._conn = conn
        self._body = _Body(conn)
        self.status = self._body.status
        self._pending = bytearray()
        self._ended = False

    def next_line(self) -> bytes | None:
        """The next non-empty line of the answer, None once the answer is complete."""
        while True:
            end = self._pending.find(b"\n")
            if end >= 0:
                line = bytes(self._pending[:end]).strip()
                del self._pending[: end + 1]
                if line:
                    return line
                continue
            piece = self._body.piece()
            if not piece:
                rest = bytes(self._pending).strip()
                self._pending.clear()
                return rest or None
            self._pending += piece

    def read_rest(self) -> bytes:
        return bytes(self._pending) + self._body.read()

    def end(self, last: bytes = b"") -> None:
        """Send the last piece of the request body (if any) and end it."""
        self._conn.sendall(encode_chunk(last) + encode_last_chunk(None))
        self._ended = True

    def close(self) -> None:
        """Give the connection back once the request body has ended (the rest of the answer
        is read before the connection's next use: the worker ends it after freeing the
        scenario's ports, which need not delay this scenario), else close it."""
        if self._ended and not self._pending and self._conn.reusable:
            self._client._give_back(self._conn, None if self._body.done else self._body)
        else:
            self._conn.close()

    def __enter__(self) -> ControlStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None:
            self._conn.close()
        self.close()


class ControlClient:
    """Requests to one control socket, on a kept-alive connection (one at a time)."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._idle: ControlConnection | None = None
        self._unread: _Body | None = None  # the rest of the idle connection's last answer

    def _take(self, timeout: float) -> ControlConnection:
        conn, self._idle = self._idle, None
        unread, self._unread = self._unread, None
        if conn is not None and unread is not None:
            conn.settimeout(timeout)
            try:
                rest = unread.read()
            except OSError:
                rest = b"?"
            if rest.strip() or not conn.reusable:
                conn.close()
                conn = None
        if conn is not None and conn.stale():
            conn.close()
            conn = None
        if conn is None:
            conn = ControlConnection(self._address, timeout)
        conn.settimeout(timeout)
        return conn

    def _give_back(self, conn: ControlConnection, unread: _Body | None = None) -> None:
        if self._idle is not None:
            self._idle.close()
        self._idle, self._unread = conn, unread

    def _head(self, method: str, path: str, content_type: str, framing: str) -> bytes:
        host, port = self._address
        return (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: {content_type}\r\n{framing}\r\n\r\n").encode("latin-1")

    def request(self, method: str, path: str, body: bytes, timeout: float,
                serving: asyncio.AbstractEventLoop | None = None) -> tuple[int, bytes]:
        """Send one request with a JSON body; answer (status, body). `serving`: a loop to run
        while waiting for the answer (the client scenario's origin lives on it)."""
        return self.receive(self.send(method, path, body, timeout), serving)

    def send(self, method: str, path: str, body: bytes, timeout: float) -> ControlConnection:
        """The first half of request(): the request sent; receive() reads its answer."""
        conn = self._take(timeout)
        try:
            conn.sendall(self._head(method, path, "application/json", f"Content-Length: {len(body)}") + body)
        except BaseException:
            conn.close()
            raise
        return conn

    def receive(self, conn: ControlConnection, serving: asyncio.AbstractEventLoop | None = None) -> tuple[int, bytes]:
        """The answer (status, body) to the request send() sent on conn."""
        try:
            conn.serving = serving
            answer = _Body(conn)
            data = answer.read()
        except BaseException:
            conn.close()
            raise
        finally:
            conn.serving = None
        if conn.reusable:
            self._give_back(conn)
        else:
            conn.close()
        return answer.status, data

    def stream(self, path: str, first: bytes, timeout: float) -> ControlStream:
        """POST with a chunked body that starts with `first` and stays open; the answer's
        head has been read when this returns."""
        return self.streamed(self.open_stream(path, first, timeout))

    def open_stream(self, path: str, first: bytes, timeout: float) -> ControlConnection:
        """The first half of stream(): the request's head and first chunk sent."""
        conn = self._take(timeout)
        try:
            conn.sendall(self._head("POST", path, "application/x-ndjson", "Transfer-Encoding: chunked")
                         + encode_chunk(first))
        except BaseException:
            conn.close()
            raise
        return conn

    def streamed(self, conn: ControlConnection) -> ControlStream:
        """The stream open_stream() opened on conn, once its answer's head has come."""
        try:
            return ControlStream(self, conn)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        if self._idle is not None:
            self._idle.close()
        self._idle = self._unread = None
