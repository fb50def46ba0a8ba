"""Serve a fetch handler (``async (Request) -> Response``) on real sockets through ASGI.

``asgi_app(fetch_handler)`` returns an ASGI 3 application. It plays the part that
workerd's HTTP front end plays for a Worker: it turns the incoming HTTP request into a
fetch ``Request`` and writes the fetch ``Response`` back out.

- The request URL is ``scheme://host`` plus the request target exactly as sent
  (``raw_path`` and the query string, nothing decoded or normalised), so the server's
  ``req.url`` can be the raw target as in Node.
- Header names arrive lower-cased from the ASGI server; duplicates are appended one by one
  so the fetch ``Headers`` keeps them apart. Values are Latin-1, as on the wire.
- The request body is a stream read from ``receive`` as the handler consumes it; GET,
  HEAD and any request without ``Content-Length``/``Transfer-Encoding`` have no body.
- The response is streamed: ``http.response.start`` as soon as the handler returned,
  then one ``http.response.body`` message (``more_body=True``) per chunk the body yields.
  When the client goes away while the handler runs, it is cancelled; mid-stream, the
  body iterator is closed: the server side sees either as the client aborting. A
  handler raising ``ConnectionDropped`` gets the connection closed with no reply.
- ASGI has no reason phrase: the ASGI server writes its own (``Response.status_text`` is
  lost), and it frames the body itself (Content-Length when the Response carries one,
  else chunked).
- Lifespan messages are accepted and answered; websocket scopes are refused.

``UvicornThread(app)`` runs an ASGI app under uvicorn on ``127.0.0.1:0`` in a background
thread (a context manager; ``.port`` and ``.url`` once entered), for tests, the
benchmark and any caller that needs the bridge on a real socket in-process.

Run the bridge on a socket with the demo app (see ``demo.py``)::

    uvicorn harness.reference.demo:app --host 127.0.0.1 --port 8787 --no-server-header --no-date-header
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any

from .fetch import Headers, Request, Response
from .server_errors import ConnectionDropped

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
FetchHandler = Callable[[Request], Awaitable[Response]]

# fetch forbids a body on these methods; a body sent anyway is not read.
_BODYLESS_METHODS = frozenset({"GET", "HEAD"})


def _request_url(scope: Scope, host: str | None) -> str:
    scheme = scope.get("scheme", "http")
    if host is None:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    raw_path = scope.get("raw_path")
    target = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
    query = scope.get("query_string", b"")
    if query:
        target = f"{target}?{query.decode('latin-1')}"
    if "://" in target:
        # absolute-form target: it is already a URL.
        return target
    if not target.startswith("/"):
        # '*' (OPTIONS) or other oddities still need a path to be a URL.
        target = "/" + target
    return f"{scheme}://{host}{target}"


class _RequestBody:
    """An async iterator over the ASGI request body; notes when it is exhausted."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.done = asyncio.Event()
        self.disconnected = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    self.disconnected = True
                    # The client left before the body ended: the reader sees an error.
                    raise ConnectionResetError("client disconnected before the request body ended")
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return
        finally:
            self.done.set()


def _has_body(method: str, headers: Headers) -> bool:
    if method in _BODYLESS_METHODS:
        return False
    if headers.has("transfer-encoding"):
        return True
    length = headers.get("content-length")
    return length is not None and length.strip() not in ("", "0")


async def _disconnected(receive: Receive, request_body: _RequestBody | None) -> None:
    """Returns once the client has gone away."""
    # receive() is shared with the request body: only listen once that is done.
    if request_body is not None:
        await request_body.done.wait()
        if request_body.disconnected:
            return
    while (await receive())["type"] != "http.disconnect":
        await asyncio.sleep(0)  # never spin on a server that answers at once


async def _first_or_gone(work: asyncio.Future[Any], gone: asyncio.Future[None]) -> bool:
    """Wait for ``work`` or the client leaving; if the client left first, cancel
    ``work`` (what it was doing sees the client abort) and answer False."""
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        cut = not work.done()
        if cut:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
    return not cut


async def _drop_connection(send: Send) -> None:
    """Close the connection without a response. ASGI has no message for it; uvicorn's
    ``send`` is a method of the request cycle that holds the transport, so that is used.
    Elsewhere the error goes up and the ASGI server answers 500."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise ConnectionDropped()
    transport.abort()
    await asyncio.sleep(0)  # the server learns of the lost connection before we return


async def _send_stream(body: AsyncIterator[bytes], send: Send, gone: asyncio.Future[None]) -> None:
    """Send each chunk as it comes; stop and close the body if the client disconnects."""

    async def pump() -> None:
        iterator = body.__aiter__()
        try:
            async for chunk in iterator:
                if chunk:
                    await send(
                        {"type": "http.response.body", "body": bytes(chunk), "more_body": True}
                    )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    # One task per streamed response and none per chunk: the watcher cancels the pump
    # when the client goes away, which closes the body iterator (the server sees an abort).
    pump_task = asyncio.ensure_future(pump())
    if await _first_or_gone(pump_task, gone):
        pump_task.result()  # a body that failed goes up: the ASGI server drops the connection


async def _lifespan(receive: Receive, send: Send) -> None:
    # Nothing to start or stop: acknowledge both phases.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _exchange(pending: Awaitable[Response], send: Send, gone: asyncio.Future[None]) -> None:
    """Run the handler, then send its Response, unless the client leaves first."""
    handler = asyncio.ensure_future(pending)
    try:
        if not await _first_or_gone(handler, gone):
            return  # the client left first: nothing to send
        response = handler.result()
    except ConnectionDropped:
        await _drop_connection(send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in response.headers.raw_items()
            ],
        }
    )
    body = response.body
    if body is None:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif isinstance(getattr(body, "_source", None), bytes) and not body.used:
        # A Response made from bytes: one message, no more tasks (fetch.py keeps the bytes).
        body.used = True
        await send({"type": "http.response.body", "body": body._source, "more_body": False})
    else:
        await _send_stream(body, send, gone)


def asgi_app(fetch_handler: FetchHandler) -> ASGIApp:
    """Wrap ``fetch_handler`` as an ASGI 3 application (http and lifespan scopes)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            raise RuntimeError(f"asgi_app serves http scopes only, not {kind!r}")

        headers = Headers()
        host: str | None = None
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            headers.append(name, value)
            if host is None and name.lower() == "host":
                host = value
        method = scope.get("method", "GET")
        request_body = _RequestBody(receive) if _has_body(method, headers) else None
        request = Request(
            _request_url(scope, host),
            method=method,
            headers=headers,
            body=request_body.__aiter__() if request_body is not None else None,
        )

        # One watcher for the whole exchange: a client leaving while the handler sits
        # idle, or while the body streams, cancels what is under way (the server sees
        # Node's client abort: req 'aborted', res 'close').
        gone = asyncio.ensure_future(_disconnected(receive, request_body))
        try:
            await _exchange(fetch_handler(request), send, gone)
        finally:
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone

    return app


class UvicornThread:
    """``with UvicornThread(app) as srv:`` serves ``app`` on ``srv.url`` until the block ends."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn  # only this helper needs an ASGI server

        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_level="warning",
            # The ServerResponse sends its own Date; uvicorn's would be a second one.
            server_header=False,
            date_header=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.server.should_exit = True
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(10)
