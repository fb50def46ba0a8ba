"""node:http's server on fetch: ``create_server``, ``Server``, and the port table.

The design is workerd's: a Server owns no socket. ``listen(port)`` claims a key in the
per-process port table (``port_table.PORTS``); the bridge (``bridge.py``) looks a key up
and hands the server a fetch ``Request``, and the server answers with a fetch
``Response`` whose body streams what the handler writes. ``asgi.py`` puts a fetch handler
on real sockets.

- ``listen(0)`` picks the next free key from 49152 up, as workerd does. A taken key is an
  'error' event with ``EADDRINUSE`` (as Node reports a taken port); ``listen`` twice
  throws ``ERR_SERVER_ALREADY_LISTEN``. 'listening' is emitted on the next loop turn
  (synchronously when no event loop runs, e.g. at import time). ``address()`` always
  says ``127.0.0.1``/``IPv4``.
- ``close()`` frees the key at once; 'close' fires once the requests in flight have
  closed. ``close()`` on a server that is not listening passes ``ERR_SERVER_NOT_RUNNING``
  to its callback, as Node.
- 'request' listeners may be plain functions or ``async def`` functions (run as tasks).
  A listener that raises before anything was sent makes the bridge answer 500; after
  that the body is cut off.
- A server made while ``EventEmitter.capture_rejections`` is set (Node's
  ``events.captureRejections``) captures a 'request' listener that returns an awaitable:
  when it fails, the response gets 500 "Internal Server Error" with every header it had
  removed, or is destroyed when its head was already sent (``_on_rejection``).
- Options (camelCase or snake_case): ``IncomingMessage``, ``ServerResponse``,
  ``joinDuplicateHeaders``, ``rejectNonStandardBodyWrites``, ``uniqueHeaders``,
  ``highWaterMark``; the headers/request/keep-alive timeouts and ``requireHostHeader`` are
  kept but have no effect; ``server.timeout`` is each request socket's idle timer
  (the fetch front end owns connections). No 'connection', 'clientError' or 'upgrade'
  event is ever emitted: the fetch front end handles parse errors and connections itself.
- ``Expect`` as Node handles it for HTTP/1.1: ``100-continue`` goes to 'checkContinue'
  if it has listeners, else to 'request' (the interim 100 is the front end's, as
  ``write_continue`` is a declared limitation); any other expectation goes to
  'checkExpectation' if it has listeners, else is answered 417 without calling the
  'request' listeners.

Declared limitations (``ServerResponse``): ``add_trailers``, ``write_continue``,
``write_processing`` and ``write_early_hints`` raise Error ``ERR_METHOD_NOT_IMPLEMENTED``.
See server_response.py and server_incoming.py for what else fetch cannot carry.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .constants import STATUS_CODES
from .errors import invalid_arg_type, out_of_range
from .events import EventEmitter
from .fetch import Request, Response
from .options import normalise_options
from .outgoing_message import DEFAULT_HIGH_WATER_MARK, OutgoingMessage
from .port_table import PORTS
from .server_errors import (
    ConnectionDropped,
    address_in_use,
    server_already_listen,
    server_not_running,
)
from .server_incoming import ServerIncomingMessage
from .server_response import ServerResponse
from .validation import valid_port

__all__ = [
    "STATUS_CODES",
    "OutgoingMessage",
    "Server",
    "ServerIncomingMessage",
    "ServerResponse",
    "create_server",
]

Listener = Callable[..., Any]
ADDRESS = "127.0.0.1"
_CONTINUE = re.compile(r"(?:^|\W)100-continue(?:$|\W)", re.IGNORECASE)
# Events whose async listeners answer the request: a failure becomes a 500.
_REQUEST_EVENTS = frozenset({"request", "checkContinue", "checkExpectation"})


class _AsyncListener:
    """Runs an ``async def`` listener as a task; failures of 'request' become a 500."""

    __slots__ = ("event", "listener", "server")

    def __init__(self, server: Server, event: str, listener: Listener) -> None:
        self.server = server
        self.event = event
        self.listener = listener

    def __call__(self, *args: Any) -> None:
        task = asyncio.get_running_loop().create_task(self.listener(*args))
        self.server._tasks.add(task)
        task.add_done_callback(lambda done: self.server._task_done(self.event, args, done))


def _bool_option(opts: dict[str, Any], key: str, camel: str, default: bool) -> bool:
    value = opts.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_arg_type(f"options.{camel}", "boolean", value)
    return value


def _int_option(opts: dict[str, Any], key: str, camel: str, default: Any) -> Any:
    """A numeric option, checked as Node's validateInteger(value, name, 0) checks it."""
    value = opts.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_arg_type(camel, "number", value)
    if value != value or value in (math.inf, -math.inf) or value != int(value):
        raise out_of_range(camel, "an integer", value)
    if value < 0:
        raise out_of_range(camel, ">= 0", value)
    return int(value)


class Server(EventEmitter):
    """http.Server on a port key instead of a socket."""

    def __init__(self, options: Any = None, request_listener: Listener | None = None) -> None:
        super().__init__()
        if callable(options) and request_listener is None:
            options, request_listener = None, options
        if options is None:
            options = {}
        elif not isinstance(options, Mapping):
            raise invalid_arg_type("options", "Object", options)
        opts = normalise_options(dict(options))
        self.incoming_message: type[ServerIncomingMessage] = (
            opts.get("incoming_message") or ServerIncomingMessage
        )
        self.server_response: type[ServerResponse] = opts.get("server_response") or ServerResponse
        self.join_duplicate_headers = _bool_option(
            opts, "join_duplicate_headers", "joinDuplicateHeaders", False
        )
        self.reject_non_standard_body_writes = _bool_option(
            opts, "reject_non_standard_body_writes", "rejectNonStandardBodyWrites", False
        )
        self.require_host_header = _bool_option(
            opts, "require_host_header", "requireHostHeader", True
        )
        _bool_option(opts, "insecure_http_parser", "insecureHTTPParser", False)
        hwm = _int_option(opts, "high_water_mark", "options.highWaterMark", None)
        self.high_water_mark: int = hwm if hwm else DEFAULT_HIGH_WATER_MARK
        self.max_header_size: int | None = _int_option(opts, "max_header_size", "maxHeaderSize", None)
        self.connections_checking_interval: int = _int_option(
            opts, "connections_checking_interval", "connectionsCheckingInterval", 30000
        )
        unique = opts.get("unique_headers")
        if unique is not None and not isinstance(unique, list | tuple):
            raise invalid_arg_type("options.uniqueHeaders", "Array", unique)
        self.unique_headers: frozenset[str] = frozenset(
            str(name).lower()
            for entry in unique or []
            for name in (entry if isinstance(entry, list) else [entry])
        )
        # Node v20's defaults; kept for code that reads them, no effect on fetch.
        self.timeout: float = 0
        self.keep_alive_timeout = _int_option(opts, "keep_alive_timeout", "keepAliveTimeout", 5000)
        self.keep_alive_timeout_buffer = 1000  # Node 24: added to keepAliveTimeout on the socket
        self.request_timeout = _int_option(opts, "request_timeout", "requestTimeout", 300000)
        self.headers_timeout = _int_option(
            opts, "headers_timeout", "headersTimeout", min(60000, self.request_timeout)
        )
        if self.request_timeout and self.headers_timeout > self.request_timeout:
            raise out_of_range("headersTimeout", "<= requestTimeout", self.headers_timeout)
        self.max_headers_count: int | None = None
        self.max_requests_per_socket = 0
        self.http_allow_half_open = False
        self._port: int | None = None
        self._in_flight = 0
        self._responses: set[ServerResponse] = set()  # open responses: the live "connections"
        # Node 24: a request without Content-Length or Transfer-Encoding comes already ended.
        self.optimize_empty_requests = _bool_option(
            opts, "optimize_empty_requests", "optimizeEmptyRequests", False
        )
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._async_wrappers: dict[Listener, list[_AsyncListener]] = {}
        if request_listener is not None:
            self.on("request", request_listener)

    # ---- listeners: async def listeners run as tasks --------------------------------

    def _wrap(self, event: str, listener: Listener) -> Listener:
        if not callable(listener):
            raise invalid_arg_type("listener", "Function", listener)
        if not inspect.iscoroutinefunction(listener):
            return listener
        wrapper = _AsyncListener(self, event, listener)
        self._async_wrappers.setdefault(listener, []).append(wrapper)
        return wrapper

    def on(self, event: str, listener: Listener) -> Server:
        super().on(event, self._wrap(event, listener))
        return self

    add_listener = on

    def once(self, event: str, listener: Listener) -> Server:
        super().once(event, self._wrap(event, listener))
        return self

    def prepend_listener(self, event: str, listener: Listener) -> Server:
        super().prepend_listener(event, self._wrap(event, listener))
        return self

    def off(self, event: str, listener: Listener) -> Server:
        wrappers = self._async_wrappers.get(listener)
        if wrappers:
            for wrapper in reversed(wrappers):
                if wrapper.event == event:
                    wrappers.remove(wrapper)
                    super().off(event, wrapper)
                    return self
        super().off(event, listener)
        return self

    remove_listener = off

    def listeners(self, event: str) -> list[Listener]:
        return [
            entry.listener if isinstance(entry, _AsyncListener) else entry
            for entry in super().listeners(event)
        ]

    def _task_done(self, event: str, args: tuple[Any, ...], task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        if event in _REQUEST_EVENTS and len(args) > 1 and isinstance(args[1], ServerResponse):
            args[1]._handler_failed(error)
        else:
            task.get_loop().call_exception_handler(
                {"message": f"async {event!r} listener raised", "exception": error, "task": task}
            )

    def _on_rejection(self, err: BaseException, event: str, *args: Any) -> None:
        """Node's Server[Symbol.for('nodejs.rejection')]: a captured rejection of a 'request'
        listener answers 500 with every header removed, or destroys a response already started."""
        if event != "request":
            super()._on_rejection(err, event, *args)
            return
        res = args[1]
        if not res.headers_sent and not res.writable_ended:
            for name in res.get_header_names():  # do not leak what the handler set
                res.remove_header(name)
            res.status_code = 500
            res.end(STATUS_CODES[500])
        else:
            res.destroy()

    # ---- listen / close / address ----------------------------------------------------

    @property
    def listening(self) -> bool:
        return self._port is not None

    def listen(self, *args: Any) -> Server:
        """``listen([port[, host[, backlog]]][, callback])`` or ``listen(options[, callback])``."""
        callback = args[-1] if args and callable(args[-1]) else None
        params = list(args[:-1] if callback is not None else args)
        port: Any = 0
        host: Any = None
        if params and isinstance(params[0], Mapping):
            port = params[0].get("port", 0)
            host = params[0].get("host")
        elif params:
            port = params[0]
            host = params[1] if len(params) > 1 else None
        port = 0 if port is None else valid_port(port, "options.port")
        if self._port is not None:
            raise server_already_listen()
        if callback is not None:
            self.once("listening", callback)
        claimed = PORTS.claim(port, self)
        if claimed is None:
            self._later(
                self.emit, "error", address_in_use(host if isinstance(host, str) else ADDRESS, port)
            )
            return self
        self._port = claimed
        self._later(self._emit_listening)
        return self

    def _emit_listening(self) -> None:
        if self._port is not None:
            self.emit("listening")

    def address(self) -> dict[str, Any] | None:
        if self._port is None:
            return None
        return {"address": ADDRESS, "family": "IPv4", "port": self._port}

    def close(self, callback: Listener | None = None) -> Server:
        if callback is not None:
            if self._port is None:
                self.once("close", lambda *_: callback(server_not_running()))
            else:
                self.once("close", callback)
        if self._port is not None:
            PORTS.release(self._port, self)
            self._port = None
        self._closing = True
        if self._in_flight == 0:
            self._later(self._emit_close)
        return self

    def _emit_close(self) -> None:
        if self._closing and self._in_flight == 0:
            self._closing = False
            self.emit("close")

    def close_all_connections(self) -> None:
        """Cut every response still open: what was sent stays sent, the rest never comes
        (the front end sees the body fail and drops the connection)."""
        for res in list(self._responses):
            res.destroy()

    def close_idle_connections(self) -> None:
        """No sockets to close: the fetch front end owns connections."""

    def set_timeout(self, msecs: float = 0, callback: Listener | None = None) -> Server:
        self.timeout = msecs
        if callback is not None:
            self.on("timeout", callback)
        return self

    async def async_dispose(self) -> None:
        """``server[Symbol.asyncDispose]()``: close(), settled by its callback."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(error: BaseException | None = None, *_: Any) -> None:
            if done.done():
                return
            if isinstance(error, BaseException):
                done.set_exception(error)
            else:
                done.set_result(None)

        self.close(settle)
        await done

    def ref(self) -> Server:
        return self

    def unref(self) -> Server:
        return self

    def get_connections(self, callback: Listener) -> Server:
        self._later(callback, None, 0)
        return self

    def _later(self, fn: Callable[..., Any], *args: Any) -> None:
        # Node emits on the next tick; without a running loop there is no next tick.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            fn(*args)
            return
        loop.call_soon(fn, *args)

    # ---- requests (called by the bridge) ----------------------------------------------

    async def _handle_fetch(self, request: Request) -> Response:
        req = self.incoming_message(request, self)
        res = self.server_response(req, self)
        req.res = res
        self._in_flight += 1
        self._responses.add(res)
        # The socket's side of Node's connectionListener: its timer and what ends it.
        socket = req.socket
        socket.on("timeout", lambda *_: self._socket_timeout(req, res))
        socket.on_destroy = res._connection_lost
        if self.timeout:
            socket.set_timeout(self.timeout)
        try:
            self._dispatch(req, res)
        except Exception as exc:
            res._handler_failed(exc)
        asyncio.get_running_loop().call_soon(req._mark_complete_if_bodyless)
        try:
            return await res._fetch_response
        except asyncio.CancelledError:
            res._client_abort()
            raise
        except ConnectionDropped:
            raise
        except Exception:
            return Response(
                b"Internal Server Error",
                status=500,
                status_text="Internal Server Error",
                headers={"content-type": "text/plain;charset=UTF-8"},
            )

    def _dispatch(self, req: ServerIncomingMessage, res: ServerResponse) -> None:
        """Node's parserOnIncoming for an HTTP/1.1 request: Expect first, then 'request'."""
        expect = req.headers.get("expect")
        if not isinstance(expect, str):
            self.emit("request", req, res)
        elif _CONTINUE.search(expect):
            res._expect_continue = True
            if self.listener_count("checkContinue"):
                self.emit("checkContinue", req, res)
            else:
                res._sent100 = True  # Node's writeContinue(); here the front end's 100
                self.emit("request", req, res)
        elif self.listener_count("checkExpectation"):
            self.emit("checkExpectation", req, res)
        else:
            res.write_head(417)
            res.end()

    def _socket_timeout(self, req: ServerIncomingMessage, res: ServerResponse) -> None:
        """Node's socketOnTimeout: 'timeout' on the request (while its body is unread),
        on the response (until it finished) and on the server; if none of them had a
        listener, the connection is destroyed."""
        on_req = not req.complete and req.emit("timeout", req.socket)
        on_res = not res.writable_finished and res.emit("timeout", req.socket)
        on_server = self.emit("timeout", req.socket)
        if not (on_req or on_res or on_server):
            req.socket.destroy()

    def _response_closed(self, res: ServerResponse) -> None:
        res.socket._cancel_timer()  # the request is over: its connection is not watched
        self._in_flight -= 1
        self._responses.discard(res)
        if self._closing and self._in_flight == 0:
            self._later(self._emit_close)


def create_server(options: Any = None, request_listener: Listener | None = None) -> Server:
    """``http.createServer([options][, requestListener])``."""
    return Server(options, request_listener)
