"""ClientRequest, request() and get(): Node's http client built on fetch().

Usage needs a running asyncio loop: call `request()` from a coroutine. Events are
emitted from the loop (never from inside `request()`), in Node's order:
socket, finish, response, data..., end, close (req), close (res) (res 'close' first when
Node would not keep the connection alive: `agent: false`, `Connection: close`); on
failure error then close. `end()` callbacks run just before 'finish', as in Node 24.

How the Node model maps onto one fetch() call:
- `end()` alone sends the whole body at once (fetch frames it with Content-Length).
- `write()`, `flush_headers()`, an `Expect` header or an explicit
  `Transfer-Encoding: chunked` start the fetch at once with a streamed body fed by a
  queue, so writes reach the server as they happen (chunked on the wire).
- fetch owns the connection: Host, Connection and framing come from fetch, header names
  go out lower-cased, and the Agent has no effect (see agent.py).
- Declared limitations: `add_trailers` raises ERR_METHOD_NOT_IMPLEMENTED; 1xx responses
  never produce 'information', 'continue', 'upgrade' or 'connect'; response trailers
  stay empty; TLS options are accepted and ignored; GET/HEAD cannot carry a body (fetch
  refuses, the request emits that TypeError); CONNECT/TRACE/TRACK are refused the same
  way.
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from . import urls
from .agent import get_global_agent, set_global_agent
from .chunks import wire_values
from .constants import MAX_HEADER_SIZE
from .errors import (
    NodeError,
    NodeTypeError,
    connect_error,
    dns_error,
    invalid_arg_type,
    invalid_url,
    js_string,
    parse_error,
    response_aborted,
    socket_closed_before_connection,
    socket_hang_up,
)
from .fetch import FetchError, Request, Response, fetch
from .incoming import IncomingMessage
from .options import normalise_options
from .outgoing_message import CLOSE_TOKEN, OutgoingMessage, header_pairs
from .request_options import (
    IGNORED_OPTIONS,
    check_options,
    timer_duration,
    url_to_options,
)
from .sockets import FetchSocket

Callback = Callable[..., Any]
__all__ = [
    "IGNORED_OPTIONS",
    "ClientRequest",
    "FetchSocket",
    "get",
    "get_global_agent",
    "request",
    "set_global_agent",
]
_EOF = object()
# Methods for which Node sends no Content-Length: 0 when the body is empty.
_NO_DEFAULT_BODY = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
# fetch refuses a body on these.
_FETCH_NO_BODY = frozenset({"GET", "HEAD"})
# Bytes Node's parser (llhttp, strict mode) refuses in a header value: controls but HTAB.
_INVALID_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class ClientRequest(OutgoingMessage):
    """An outgoing request. Build it with `request()`; it is sent by `end()`."""

    def __init__(self, options: dict[str, Any], callback: Callback | None = None) -> None:
        try:
            super().__init__()
        except RuntimeError as exc:
            raise RuntimeError(
                "reference http.request() must be called inside a running asyncio event loop"
            ) from exc
        # Node's synchronous checks (request_options.py); a failure raises from here.
        checked = check_options(normalise_options(options), get_global_agent())
        opts = self._options = checked.options
        self.agent = checked.agent
        self.host: str = checked.host
        self.protocol: str = checked.protocol
        self.method: str = checked.method
        self.path: str = checked.path
        self.timeout: float | None = checked.timeout
        self._port = checked.port
        self._unique_headers = checked.unique_headers
        host, set_host, default_port = checked.host, checked.set_host, checked.default_port

        raw = opts.get("headers")
        if isinstance(raw, dict):
            for name, value in raw.items():
                if isinstance(name, str) and name.lower() == "host" and isinstance(value, list | tuple):
                    raise invalid_arg_type("options.headers.host", "string", value)
        if isinstance(raw, (list, tuple)):
            for name, value in header_pairs(raw):
                self.append_header(name, value)
        elif isinstance(raw, dict):
            for name, value in raw.items():
                self.set_header(name, value)
        if host and set_host and not self.has_header("host"):
            host_header = f"[{host}]" if ":" in host and not host.startswith("[") else host
            if self._port and self._port != default_port:
                host_header += f":{self._port}"
            self.set_header("Host", host_header)
        auth = opts.get("auth")
        if auth and not self.has_header("authorization"):
            token = base64.b64encode(js_string(auth).encode("utf-8")).decode("ascii")
            self.set_header("Authorization", f"Basic {token}")

        self.aborted = False
        self.reused_socket = False
        self.max_headers_count: int | None = None
        self._response_keeps_alive = True  # until a response says otherwise
        self._req_timeout = False  # set_timeout (or options.timeout) asked for req 'timeout'
        self.res: IncomingMessage | None = None
        self.socket: FetchSocket | None = None
        self.connection: FetchSocket | None = None
        self._pending: list[bytes] = []  # bytes written before the fetch starts (GET/HEAD)
        self._queue: asyncio.Queue[Any] | None = None
        self._started = False
        self._streaming_body = False
        self._task: asyncio.Task[None] | None = None
        self._closed_event = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._signal = checked.signal

        if callback is not None:
            self.once("response", callback)
        if self.timeout is not None:
            self.set_timeout(self.timeout)
        self._loop.call_soon(self._emit_socket)
        if self._signal is not None:
            self._watch_signal()
        if self.has_header("expect") and not self.destroyed:
            self.flush_headers()  # Node sends the head at once when Expect is set

    # ---- body API -------------------------------------------------------------------

    def _write_body(self, data: bytes, callback: Callback | None) -> bool:
        self._store_header()
        self._touch()
        if self.method in _FETCH_NO_BODY:
            return self._write_bodyless(data, callback)
        self._start_streaming()
        return self._enqueue(data, callback)

    def _end(self, data: bytes | None, callback: Callback | None) -> None:
        if self.destroyed:
            return
        payload = data or b""
        self.finished = True
        self._store_header()
        if callback is not None:
            self._end_callbacks.append(callback)
        if self.method in _FETCH_NO_BODY:
            if self._started:
                self._write_bodyless(payload, None)  # 'finish' comes with the response
            else:
                body = b"".join([*self._pending, payload])
                self._start(body if body else None)
            return
        if self._started:
            if payload:
                self._enqueue(payload, None)
            assert self._queue is not None
            self._queue.put_nowait(_EOF)
        elif self._header_value("transfer-encoding").lower() == "chunked":
            # The caller asked for chunked framing: give fetch a stream.
            self._start_streaming()
            if payload:
                self._enqueue(payload, None)
            assert self._queue is not None
            self._queue.put_nowait(_EOF)
        elif not payload and self.method in _NO_DEFAULT_BODY:
            self._start(None)
        else:
            self._start(payload)  # b"" still gets Content-Length: 0, as Node sends

    def flush_headers(self) -> None:
        if self.destroyed:
            return
        self._store_header()
        if self._started:
            return
        if self.method in _FETCH_NO_BODY:
            self._start(None)
        else:
            self._start_streaming()

    def set_timeout(self, msecs: float, callback: Callback | None = None) -> ClientRequest:
        """Emit 'timeout' after `msecs` without activity; it never destroys the request."""
        duration = timer_duration(msecs, "msecs")
        if callback is not None:
            self.once("timeout", callback)
        self.timeout = duration
        self._req_timeout = True
        self._arm_timer()
        return self

    def _set_response_timeout(self, msecs: float) -> None:
        """res.set_timeout: the same idle timer, reported on the response."""
        self.timeout = timer_duration(msecs, "msecs")
        self._arm_timer()

    @property
    def should_keep_alive(self) -> bool:
        """Node's `shouldKeepAlive`: the agent or a caller's Connection header decide, and a
        response that ends the connection turns it false (fetch does not expose the
        response's HTTP version, so a 1.0 response without Connection still counts as 1.1)."""
        given = self._header_value("connection")
        if given:
            keep = CLOSE_TOKEN.search(given) is None
        else:
            agent = self.agent
            keep = bool(getattr(agent, "keep_alive", False)) or math.isfinite(
                getattr(agent, "max_sockets", math.inf)
            )
        return keep and self._response_keeps_alive

    def set_no_delay(self, no_delay: bool = True) -> None:
        """No-op: fetch owns the socket."""

    def set_socket_keep_alive(self, enable: bool = False, initial_delay: float = 0) -> None:
        """No-op: fetch owns the socket."""

    def destroy(self, error: BaseException | None = None) -> ClientRequest:
        if self.destroyed:
            return self
        self.destroyed = True
        self._close_queue()
        if self.res is None:
            if self._task is not None:
                self._task.cancel()
            err = error if error is not None else socket_hang_up()
            self._loop.call_soon(self._fail_and_close, err)
        elif not self.res.complete:
            self._destroy_response(None, req_error=error)
        return self

    def abort(self) -> None:
        """Deprecated in Node; kept: 'abort', then the same as destroy(). Before the
        request has a socket, Node 24 emits only 'close', then 'abort' (no 'error')."""
        if self.aborted:
            return
        self.aborted = True
        if self.socket is None and not self.destroyed:
            self.destroyed = True
            self._close_queue()
            if self._task is not None:
                self._task.cancel()
            self._loop.call_soon(self._close_unsent)
            return
        self._loop.call_soon(self.emit, "abort")
        self.destroy()

    def _close_unsent(self) -> None:
        self._emit_close()
        self._closed_event.set()
        self.emit("abort")

    async def wait_closed(self) -> None:
        """Extra (not Node): wait until req 'close' and, if there is a response, res 'close'."""
        await self._closed_event.wait()

    # ---- internals: starting fetch --------------------------------------------------

    def _header_value(self, key: str) -> str:
        entry = (self._out or {}).get(key)
        return "" if entry is None else js_string(entry[1])

    def _store_header(self) -> None:
        """The head is final from the first write(), end() or flush_headers() on."""
        if self._header is None:
            self._header = [
                (name, line)
                for key, (name, value) in (self._out or {}).items()
                for line in wire_values(key, value, self._unique_headers)
            ]

    def _url(self) -> str:
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        path = self.path if self.path.startswith("/") else "/" + self.path
        return f"http://{host}:{self._port}{path}"

    def _start(self, body: bytes | AsyncIterator[bytes] | None) -> None:
        self._started = True
        self._store_header()
        try:
            request = Request(
                self._url(), method=self.method, headers=self._head_headers(), body=body
            )
        except TypeError as exc:
            # fetch refused the request itself (GET body, CONNECT, a URL it cannot parse):
            # like a rejected fetch promise, the error comes after 'socket'.
            self._loop.call_soon(self._refused, NodeTypeError(str(exc), None))
            return
        self._task = self._loop.create_task(self._run(request))
        self._task.add_done_callback(self._task_done)

    def _start_streaming(self) -> None:
        if self._started:
            return
        self._queue = asyncio.Queue()
        self._streaming_body = True
        self._start(self._body_stream())

    def _enqueue(self, data: bytes, callback: Callback | None) -> bool:
        assert self._queue is not None
        self._queue.put_nowait((data, callback))
        return self._buffer(len(data))

    def _write_bodyless(self, data: bytes, callback: Callback | None) -> bool:
        if data and self._started:
            # The head already went out without a body; fetch cannot add one now.
            self._error_soon(
                NodeTypeError("Request with GET/HEAD method cannot have body.", None), callback
            )
            return False
        self._pending.append(data)
        if callback is not None:
            self._loop.call_soon(callback)
        return True

    async def _body_stream(self) -> AsyncIterator[bytes]:
        """The request body fetch reads: each write() as it comes."""
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            if item is _EOF:
                break
            data, callback = item
            if data:
                yield data
            # fetch took the chunk: it is on its way.
            self._buffered -= len(data)
            self._touch()
            if callback is not None:
                self._invoke(callback)
            if self._drain_due():
                self._invoke(self.emit, "drain")
        self._finish()

    def _close_queue(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(_EOF)

    def _finish(self) -> None:
        # A destroyed request never finishes (Node emits no 'finish' after destroy()).
        if self.writable_finished or not self.writable_ended or self.destroyed:
            return
        self.writable_finished = True
        self._emit_finish()

    # ---- internals: the exchange ----------------------------------------------------

    async def _run(self, request: Request) -> None:
        try:
            response = await fetch(request)
        except FetchError as exc:
            self._on_fetch_error(exc)
            return
        if self.destroyed:
            await response.cancel()
            return
        self._touch()
        self._finish()  # a body given whole to fetch is known sent once a response came
        refused = self._parser_refusal(response)
        if refused is not None:
            # What Node's parser rejects but fetch let through: no 'response', as in Node.
            await response.cancel()
            self.destroyed = True
            self._fail_and_close(refused)
            return
        res = IncomingMessage(self, response)
        self.res = res
        if not self.listener_count("response"):
            res.resume()  # nobody listens: read and discard, as Node's _dump does
        else:
            self._invoke(self.emit, "response", res)
        try:
            await res._pump(self._touch)
        except FetchError:
            await response.cancel()
            self._response_broke()
            return
        except asyncio.CancelledError:
            await response.cancel()
            raise
        if res.destroyed:
            await response.cancel()
            return
        if self._keeps_alive(response):
            # The socket goes back to the pool at 'end': req 'close' first.
            self._emit_close()
            res._emit_close()
        else:
            # The socket is closed after the response: res 'close' first, then req 'close'.
            res._emit_close()
            self._emit_close()
        self._closed_event.set()

    def _keeps_alive(self, response: Response) -> bool:
        """Node's `shouldKeepAlive`, which orders the two 'close' events at the end.

        The agent decides (a non-keepAlive agent with unlimited sockets, as with
        `agent: false`, closes the connection); a Connection header given by the caller
        overrides it, and a response saying `Connection: close` ends it. fetch sends
        none of these Connection headers itself (see the README).
        """
        answer = response.headers.get("connection")
        if answer and CLOSE_TOKEN.search(answer):
            self._response_keeps_alive = False
        return self.should_keep_alive

    def _parser_refusal(self, response: Response) -> NodeError | None:
        """The parse error Node's parser would have raised on this head, from what fetch shows.

        A control character in a header value (HPE_INVALID_HEADER_TOKEN, unless
        `insecureHTTPParser`), and a head over `maxHeaderSize` (HPE_HEADER_OVERFLOW).
        Node counts the reason phrase and every header name and value against the limit;
        fetch shows duplicates joined, so the count is exact only without duplicates.
        """
        limit = self._options.get("max_header_size") or MAX_HEADER_SIZE
        lenient = self._options.get("insecure_http_parser") is True
        size = len(response.status_text)
        for name, value in response.headers.items():
            if not lenient and _INVALID_VALUE_CHAR.search(value):
                return parse_error("HPE_INVALID_HEADER_TOKEN", "Invalid header value char")
            size += len(name) + len(value)
            if size >= limit:
                return parse_error("HPE_HEADER_OVERFLOW", "Header overflow")
        return None

    def _on_fetch_error(self, exc: FetchError) -> None:
        if self.destroyed:
            return
        if exc.kind == "reset":
            self._finish()  # the request went out; the server hung up before answering
        self.destroyed = True
        if exc.kind == "connect":
            err: NodeError = connect_error(exc.code or "ECONNREFUSED", self.host, self._port)
        elif exc.kind == "dns":
            err = dns_error(self.host)
        elif exc.kind == "reset":
            err = socket_hang_up()
        else:
            err = NodeTypeError(str(exc), exc.code, cause=exc.cause)
        self._fail_and_close(err)
        if exc.kind in ("connect", "dns"):
            # Node 24: after 'close', the write() and end() callbacks still waiting get
            # ERR_SOCKET_CLOSED_BEFORE_CONNECTION.
            self._loop.call_soon(self._fail_waiting_callbacks, socket_closed_before_connection())

    def _fail_waiting_callbacks(self, error: NodeError) -> None:
        callbacks: list[Callback] = []
        while self._queue is not None and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _EOF and item[1] is not None:
                callbacks.append(item[1])
        callbacks += self._end_callbacks
        self._end_callbacks = []
        for callback in callbacks:
            self._invoke(callback, error)

    def _response_broke(self) -> None:
        """The body broke off mid-way: Node's aborted sequence."""
        res = self.res
        assert res is not None
        if res.destroyed:
            return
        self.destroyed = True
        res.aborted = True
        error = response_aborted()
        res._fail(error)
        res.emit("aborted")
        self._emit_close()
        if res.listener_count("error"):
            res.emit("error", error)
        res._emit_close()
        self._closed_event.set()

    def _destroy_response(
        self, error: BaseException | None, req_error: BaseException | None = None
    ) -> None:
        """res.destroy() or req.destroy() while the body is still coming."""
        res = self.res
        assert res is not None
        if res.destroyed:
            return
        res.destroyed = True
        self.destroyed = True
        res._want.set()  # wake the pump so it can stop
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        if not res.complete:
            res.aborted = True
            res.emit("aborted")

        def finish_close() -> None:
            if req_error is not None and self.listener_count("error"):
                self.emit("error", req_error)
            self._emit_close()
            if error is not None:
                res._fail(error)  # type: ignore[arg-type]
                if res.listener_count("error"):
                    res.emit("error", error)
            res._emit_close()
            self._closed_event.set()

        self._loop.call_soon(finish_close)

    def _refused(self, error: NodeError) -> None:
        if not self.destroyed:
            self.destroyed = True
            self._fail_and_close(error)

    def _fail_and_close(self, error: BaseException) -> None:
        self._stop_timer()
        try:
            self.emit("error", error)
        finally:
            self._emit_close()
            self._closed_event.set()

    def _emit_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_timer()
        if self._signal is not None and hasattr(self._signal, "remove_event_listener"):
            self._signal.remove_event_listener("abort", self._on_abort)
        self.emit("close")

    def _emit_socket(self) -> None:
        if self.destroyed or self._closed:
            return
        self.socket = self.connection = FetchSocket(self.host, self._port)
        self.emit("socket", self.socket)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # A listener raised: Node would crash; here the loop's handler reports it.
            self._loop.call_exception_handler(
                {"message": "exception in a reference http listener", "exception": exc}
            )

    def _invoke(self, fn: Callback, *args: Any) -> None:
        # Called from inside fetch's body reader: a listener's exception must not
        # masquerade as a network error.
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001
            self._loop.call_exception_handler(
                {"message": "exception in a reference http listener", "exception": exc}
            )

    # ---- internals: timeout and abort -----------------------------------------------

    def _arm_timer(self) -> None:
        self._stop_timer()
        if self.timeout and not self._closed:
            self._timer = self._loop.call_later(self.timeout / 1000, self._on_timeout)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _touch(self) -> None:
        if self._timer is not None or (self.timeout and not self._closed):
            self._arm_timer()

    def _on_timeout(self) -> None:
        self._timer = None  # re-armed only by new activity, like a socket idle timeout
        if self._closed:
            return
        # The socket's timeout reaches the response while it is being read, and the
        # request when req.set_timeout (or options.timeout) asked for it.
        res = self.res
        if res is not None and not res.readable_ended:
            self._invoke(res.emit, "timeout")
        if self._req_timeout:
            self._invoke(self.emit, "timeout")

    def _watch_signal(self) -> None:
        signal = self._signal
        if isinstance(signal, asyncio.Event):
            if signal.is_set():
                self._on_abort()
                return

            async def watch() -> None:
                await signal.wait()
                self._on_abort()

            watcher = self._loop.create_task(watch())
            self.once("close", lambda *_: watcher.cancel())
            return
        if signal.aborted:
            self._on_abort()
        else:
            signal.add_event_listener("abort", self._on_abort)

    def _on_abort(self) -> None:
        from .errors import AbortError

        if self._closed:
            return
        reason = getattr(self._signal, "reason", None)
        self.destroy(AbortError(cause=reason))


def request(*args: Any, **kwargs: Any) -> ClientRequest:
    """http.request(url[, options][, callback]) or http.request(options[, callback]).

    `url` is a string; options are a dict (camelCase or snake_case keys); extra keyword
    arguments are merged into the options. Must be called inside a running event loop.
    """
    items = list(args)
    options: dict[str, Any] = {}
    callback: Callback | None = None
    if items and isinstance(items[0], (str, urls.URL)):
        first = items.pop(0)
        if isinstance(first, str):
            try:
                first = urls.parse(first)
            except urls.InvalidURL as exc:
                raise invalid_url(first) from exc
        options = url_to_options(first)
    elif items and isinstance(items[0], dict):
        options = dict(items.pop(0))
    elif items and not callable(items[0]) and items[0] is not None:
        raise invalid_arg_type("url", ["string", "Object", "URL"], items[0])
    elif items and items[0] is None:
        items.pop(0)
    if items and isinstance(items[0], dict):
        options.update(items.pop(0))
    if items and callable(items[0]):
        callback = items.pop(0)
    elif items and items[0] is not None:
        raise invalid_arg_type("callback", "function", items[0])
    options.update(kwargs)
    return ClientRequest(options, callback)


def get(*args: Any, **kwargs: Any) -> ClientRequest:
    """http.get: request() followed by end()."""
    req = request(*args, **kwargs)
    req.end()
    return req
