"""ServerResponse: Node's response API writing into a streamed fetch Response.

The head is stored by ``write_head`` (or implicitly by the first ``write``/``end``), with
Node's checks and Node's framing decision (``end(data)`` alone gives Content-Length). The
fetch ``Response`` is produced the moment the head is flushed — at the first ``write``,
``flush_headers`` or ``end`` — and its body is an async generator fed by a queue, so bytes
reach the fetch consumer as they are written. A response that ended before its head was
flushed carries its body as plain bytes.

What a fetch Response cannot carry is dropped or refused in one clean way each:

- ``add_trailers``, ``write_continue``, ``write_processing`` and ``write_early_hints``
  raise Error ``ERR_METHOD_NOT_IMPLEMENTED`` (no trailers, no interim responses).
- A final status outside 200-599 passes Node's check (100-999) but no fetch Response
  can hold it: the bridge answers 500 instead.
- Framing is the fetch consumer's business: no ``Transfer-Encoding: chunked`` is added
  (the consumer chunks a body of unknown length); a body longer than a declared
  Content-Length is cut at that length (as workerd does); 205 has no body.
- Header names reach the fetch Response lower-cased (fetch Headers), in Node's order.

``Date`` is added unless ``send_date`` is false or a Date header was set. ``Connection``
and ``Keep-Alive`` are added as Node adds them: ``Connection: keep-alive`` and
``Keep-Alive: timeout=<keepAliveTimeout s>[, max=<maxRequestsPerSocket>]`` unless the
request asked for ``Connection: close`` (then ``Connection: close``); a Connection header
set by the handler wins, and removing it sends none. Whether the front end writes them is
its own business (uvicorn does).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from .chunks import wire_values
from .constants import STATUS_CODES
from .errors import (
    UNDEFINED,
    headers_sent,
    invalid_char,
    js_string,
    method_not_implemented,
    response_aborted,
)
from .fetch import Response
from .outgoing_message import CLOSE_TOKEN, OutgoingMessage, header_pairs
from .server_errors import (
    ConnectionDropped,
    body_not_allowed,
    content_length_mismatch,
    invalid_status_code,
    trailer_invalid,
)
from .validation import has_invalid_header_char, validate_header_name, validate_header_value

if TYPE_CHECKING:
    from .server import Server
    from .server_incoming import ServerIncomingMessage

Callback = Callable[..., Any]
log = logging.getLogger("harness.reference.server")

_date_cache: tuple[int, str] = (0, "")


def utc_date() -> str:
    """The IMF-fixdate Node writes in Date, computed at most once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def to_int32(value: Any) -> int:
    """JavaScript's ``value | 0``, which is how Node reads a status code."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float = int(text, 16) if text.lower().startswith("0x") else float(text or "0")
        except ValueError:
            return 0
    elif isinstance(value, int | float):
        number = value
    else:
        return 0
    if isinstance(number, float) and (math.isnan(number) or math.isinf(number)):
        return 0
    wrapped = int(number) % 2**32
    return wrapped - 2**32 if wrapped >= 2**31 else wrapped


class ServerResponse(OutgoingMessage):
    """``res`` in a 'request' listener; its writes stream into a fetch Response."""

    def __init__(self, req: ServerIncomingMessage, server: Server | None = None) -> None:
        super().__init__()
        self.req = req
        self.server = server
        self.socket = req.socket
        self.connection = req.socket
        self.status_code: Any = 200
        self._status_message: Any = UNDEFINED
        self.send_date = True
        if server is not None:
            self.writable_high_water_mark = server.high_water_mark
        if self.socket is not None:
            self.socket.writable_high_water_mark = self.writable_high_water_mark
        self._reject_non_standard_body_writes = (
            bool(server.reject_non_standard_body_writes) if server is not None else False
        )
        if server is not None and server.unique_headers:
            self._unique_headers = set(server.unique_headers)
        # Node drops the body of a HEAD response (and of 204/304, set in write_head).
        self._has_body = req.method != "HEAD"
        self._content_length: int | None = None
        self._declared_length: int | None = None
        self._chunked_declared = False
        self._bytes_written = 0
        self._bytes_queued = 0
        # (bytes, what they count in writable_length: with chunked framing, size line and CRLFs)
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._chunked = False  # the head leaves the length open: the body goes out chunked
        self._stream_error: BaseException | None = None
        self._wake = asyncio.Event()
        self._flushed = False
        # Node's shouldKeepAlive: an HTTP/1.1 request keeps the connection unless it says
        # close (fetch does not tell the version; the front end speaks 1.1 to us).
        asked = req.headers.get("connection")
        self.should_keep_alive = not (isinstance(asked, str) and CLOSE_TOKEN.search(asked))
        self._keep_alive_timeout: Any = server.keep_alive_timeout if server is not None else 5000
        self._max_requests_per_socket: Any = (
            server.max_requests_per_socket if server is not None else 0
        )
        # Set by the server for `Expect: 100-continue`; the front end's interim 100
        # counts as sent unless a 'checkContinue' listener took the request.
        self._expect_continue = False
        self._sent100 = False
        self._fetch_response: asyncio.Future[Response] = self._loop.create_future()

    # ---- status -----------------------------------------------------------------

    @property
    def status_message(self) -> Any:
        return self._status_message

    @status_message.setter
    def status_message(self, value: Any) -> None:
        self._status_message = value

    # ---- head -------------------------------------------------------------------

    def write_head(self, status_code: Any, reason: Any = None, obj: Any = None) -> ServerResponse:
        if self._header is not None:
            raise headers_sent("write")
        code = to_int32(status_code)
        if code < 100 or code > 999:
            raise invalid_status_code(status_code)
        if isinstance(reason, str):
            self._status_message = reason
        else:
            if not self._status_message:
                self._status_message = STATUS_CODES.get(code, "unknown")
            if obj is None:
                obj = reason
        self.status_code = code

        literal: list[tuple[Any, Any]] | None = None
        if self._out is not None:
            # setHeader was used: merge, and writeHead's values win.
            if isinstance(obj, list | tuple):
                pairs = header_pairs(obj)
                for key, _ in pairs:
                    self.remove_header(str(key))
                for key, value in pairs:
                    self.append_header(str(key), value)
            elif obj:
                for key, value in obj.items():
                    if key:
                        self.set_header(key, value)
        elif isinstance(obj, list | tuple):
            literal = header_pairs(obj)
        elif obj:
            literal = list(obj.items())

        if has_invalid_header_char(str(self._status_message)):
            raise invalid_char("statusMessage")
        if code in (204, 304) or code < 200:
            self._has_body = False
        if self._expect_continue and not self._sent100:
            # Node: a final status without a 100 Continue ends the connection.
            self.should_keep_alive = False
        self._store_header(literal)
        return self

    write_header = write_head

    def _store_header(self, literal: list[tuple[Any, Any]] | None) -> None:
        lines: list[tuple[str, str]] = []
        has_date = has_length = has_te = has_connection = False
        default_keep_alive = True
        if literal is not None:
            source = literal
        else:
            source = [(entry[0], entry[1]) for entry in (self._out or {}).values()]
        for name, value in source:
            if literal is not None:
                # writeHead's own headers are checked as they are stored.
                validate_header_name(name)
                validate_header_value(name, value)
            key = name.lower()
            for text in wire_values(key, value, self._unique_headers):
                lines.append((name, text))
            if key == "date":
                has_date = True
            elif key == "connection":
                has_connection = True
                self._removed_connection = False
                if CLOSE_TOKEN.search(js_string(value)) is None:
                    self.should_keep_alive = True
            elif key == "keep-alive":
                default_keep_alive = False
            elif key == "content-length":
                has_length = True
                self._removed_content_length = False
                try:
                    self._declared_length = int(str(value[0] if isinstance(value, list) else value))
                    self._content_length = self._declared_length
                except ValueError:
                    self._declared_length = None
            elif key == "transfer-encoding":
                has_te = True
                self._removed_transfer_encoding = False
                self._chunked_declared = "chunked" in str(value).lower()
        chunked = (
            self._has_body
            and not has_length
            and self._content_length is None
            and (self._chunked_declared if has_te else not self._removed_transfer_encoding)
        )
        if any(name.lower() == "trailer" for name, _ in lines) and not chunked:
            # Trailers need chunked framing; nothing is stored, so the head can be fixed.
            raise trailer_invalid()
        self._chunked = bool(chunked)
        if self.send_date and not has_date:
            lines.append(("Date", utc_date()))
        if not has_connection and not self._removed_connection:
            # Node's keep-alive logic (a ServerResponse always qualifies for keep-alive).
            if self.should_keep_alive:
                lines.append(("Connection", "keep-alive"))
                timeout = self._keep_alive_timeout
                if timeout and default_keep_alive:
                    seconds = math.floor(float(timeout) / 1000)
                    max_requests = to_int32(self._max_requests_per_socket)
                    extra = f", max={max_requests}" if max_requests > 0 else ""
                    lines.append(("Keep-Alive", f"timeout={seconds}{extra}"))
            else:
                lines.append(("Connection", "close"))
        if (
            not has_length
            and not has_te
            and self._has_body
            and not self._removed_content_length
            and self._content_length is not None
        ):
            # end(data) before any write: the whole length is known, so it is declared.
            lines.append(("Content-Length", str(self._content_length)))
        self._header = lines
        if self.socket is not None:
            # What Node's socket counts for the head: status line, header lines, blank line.
            head = f"HTTP/1.1 {self.status_code} {self._status_message}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in lines) + "\r\n"
            self.socket.bytes_written += len(head.encode("latin-1", "replace"))

    def _implicit_header(self) -> None:
        self.write_head(self.status_code)

    def flush_headers(self) -> None:
        if self._header is None:
            self._implicit_header()
        self._flush_head()

    def _strict_length(self) -> bool:
        return (
            bool(self.strict_content_length)
            and self._content_length is not None
            and self._has_body
            and not self._removed_content_length
            and not self._chunked_declared
        )

    def _flush_head(self) -> None:
        """Produce the fetch Response: the head is final from here on."""
        if self._flushed:
            return
        self._flushed = True
        if self._fetch_response.done():  # destroyed before anything was sent
            return
        headers = self._head_headers()
        body: bytes | AsyncIterator[bytes] | None
        # 205 may carry no body in fetch; Node would send one.
        if not self._has_body or self.status_code == 205:
            body = None
        elif self.finished:
            body = b"".join(data for data, _ in self._chunks)
            self._chunks.clear()
            self._buffered = 0
        else:
            body = self._stream()
        try:
            response = Response(
                body,
                status=self.status_code,
                status_text=str(self._status_message),
                headers=headers,
            )
        except (TypeError, ValueError) as exc:
            # e.g. a 1xx or 600+ final status: Node sends it, fetch cannot.
            self._fetch_response.set_exception(exc)
            return
        self._fetch_response.set_result(response)

    async def _stream(self) -> AsyncIterator[bytes]:
        completed = False
        try:
            while True:
                if self._chunks:
                    chunk, cost = self._chunks.popleft()
                    self._buffered -= cost
                    if self._drain_due():
                        self._loop.call_soon(self._emit_drain)
                    yield chunk
                    continue
                if self._stream_error is not None:
                    completed = True
                    raise self._stream_error
                if self.finished:
                    completed = True
                    return
                self._wake.clear()
                await self._wake.wait()
        finally:
            if not completed:
                # The consumer stopped reading before the end: the client went away.
                self._client_abort()

    def _emit_drain(self) -> None:
        if not self.destroyed:
            self.emit("drain")

    # ---- body -------------------------------------------------------------------

    def _write_body(self, data: bytes, callback: Callback | None, from_end: bool = False) -> bool:
        if self._header is None:
            self._implicit_header()
        if not self._has_body:
            if self._reject_non_standard_body_writes:
                raise body_not_allowed()
            if callback is not None:
                self._loop.call_soon(callback)
            return True
        if self._strict_length() and self._bytes_written + len(data) > (self._content_length or 0):
            raise content_length_mismatch(
                self._bytes_written + len(data), self._content_length or 0
            )
        self._bytes_written += len(data)
        if self.socket is not None:
            self.socket._touch()
        if self._declared_length is not None:
            # More than the declared Content-Length would break the fetch consumer's framing.
            data = data[: max(self._declared_length - self._bytes_queued, 0)]
        cost = len(data) + (len(f"{len(data):x}") + 4 if self._chunked and data else 0)
        if self.socket is not None:
            self.socket.bytes_written += cost
        if data:
            self._bytes_queued += len(data)
            self._chunks.append((data, cost))
            self._wake.set()
        if not from_end:
            # end() flushes after marking the end, so a whole body goes out as bytes.
            self._flush_head()
        if callback is not None:
            self._loop.call_soon(callback)
        return self._buffer(cost)

    def _end(self, data: bytes | None, callback: Callback | None) -> None:
        if data is not None:
            if self._header is None:
                self._content_length = len(data)
            if not self.destroyed:
                self._write_body(data, None, from_end=True)
        elif self._header is None:
            self._content_length = 0
            self._implicit_header()
        if self._strict_length() and self._bytes_written != self._content_length:
            raise content_length_mismatch(self._bytes_written, self._content_length or 0)
        if callback is not None:
            self._end_callbacks.append(callback)  # run before 'finish', as Node 24 does
        self.finished = True
        self._flush_head()
        self._wake.set()
        self._loop.call_soon(self._finish)

    def _finish(self) -> None:
        if self.writable_finished or self._closed:
            return
        self.writable_finished = True
        # Nobody read the request body: drop it so the request can end (Node's _dump).
        self.req._dump()
        self._loop.call_soon(self._emit_close)
        self._emit_finish()

    def _emit_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.emit("close")
        self.req._close_after_end()
        if self.server is not None:
            self.server._response_closed(self)

    # ---- endings that are not end() ----------------------------------------------

    def _client_abort(self) -> None:
        """The fetch consumer went away before end(): Node's client-abort sequence."""
        if self._closed or self.finished:
            return
        self.destroyed = True
        # Node's order: req 'aborted', res 'close', req 'error', req 'close'.
        self.req._abort_begin()
        if not self._fetch_response.done():
            self._fetch_response.set_exception(response_aborted())
        self._closed = True
        self.emit("close")
        self.req._abort_end()
        if self.server is not None:
            self.server._response_closed(self)

    def _connection_lost(self) -> None:
        """req.socket was destroyed: Node's close sequence for the request in flight, and
        the connection goes without a reply (or with the body cut where it is)."""
        if self._closed or self.writable_finished:
            return
        if not self._fetch_response.done():
            self._fetch_response.set_exception(ConnectionDropped())
        elif self._stream_error is None:
            self._stream_error = ConnectionResetError("the server destroyed the connection")
            self._wake.set()
        self._client_abort()

    def _handler_failed(self, error: BaseException) -> None:
        """The 'request' listener raised: 500 if nothing was sent, else cut the body."""
        log.error("request listener raised", exc_info=error)
        self._fail(error)

    def _fail(self, error: BaseException) -> None:
        if self._closed:
            return
        self.destroyed = True
        if not self._fetch_response.done():
            self._fetch_response.set_exception(error)
        elif not self.finished:
            self._stream_error = error
            self._wake.set()
        self._loop.call_soon(self._emit_close)

    def destroy(self, error: BaseException | None = None) -> ServerResponse:
        """The error goes to the socket, not to 'error' listeners (Node sets `errored`)."""
        if not self.destroyed and not self._closed:
            self.errored = error if error is not None else UNDEFINED  # a plain assignment in Node
            self._fail(error if error is not None else response_aborted())
        return self

    def set_timeout(self, msecs: float, callback: Callback | None = None) -> ServerResponse:
        """Node's: the callback listens to 'timeout' here; the timer is the socket's."""
        if callback is not None:
            self.on("timeout", callback)
        if self.socket is not None:
            self.socket.set_timeout(msecs)
        return self

    # ---- declared limitations ----------------------------------------------------

    def write_continue(self, callback: Callback | None = None) -> None:
        """Declared limitation: a fetch Response has no interim 100 Continue."""
        raise method_not_implemented("writeContinue()")

    def write_processing(self, callback: Callback | None = None) -> None:
        """Declared limitation: a fetch Response has no interim 102 Processing."""
        raise method_not_implemented("writeProcessing()")

    def write_early_hints(self, hints: Any, callback: Callback | None = None) -> None:
        """Declared limitation: a fetch Response has no interim 103 Early Hints."""
        raise method_not_implemented("writeEarlyHints()")

    def assign_socket(self, socket: Any) -> None:
        """There is no socket to assign: fetch owns it."""
        raise method_not_implemented("assignSocket()")

    def detach_socket(self, socket: Any) -> None:
        """There is no socket to detach: fetch owns it."""
        raise method_not_implemented("detachSocket()")
